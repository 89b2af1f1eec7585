import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { OrderType } from '@vendure/common/lib/generated-types';
import {
    EventBus,
    ID,
    Injector,
    JobQueue,
    JobQueueService,
    Logger,
    Order,
    OrderService,
    OrderStateTransitionEvent,
    RequestContext,
    RequestContextService,
    TransactionalConnection,
} from '@vendure/core';
import { filter } from 'rxjs/operators';
import { LessThan, LessThanOrEqual } from 'typeorm';

import { DISPATCH_QUEUE, loggerCtx, PLUGIN_OPTIONS, QUEUED, RETRYING, SERVICE_FINAL_STATUSES } from '../constants';
import { DriverDelivery } from '../entities/driver-delivery.entity';
import { DriverWebhookReceipt } from '../entities/driver-webhook-receipt.entity';
import { DriverIntegrationOptions } from '../types';
import { DriverDeliveryService } from './driver-delivery.service';
import { OrderSender, sendLease } from './order-sender';

interface SyncJob {
    orderId: ID;
}

const PRUNE_EVERY_MS = 60 * 60_000;

/**
 * Turns order transitions into jobs on Vendure's job queue: the ready state
 * sends `seller-order-ready`, `Cancelled` sends `seller-order-cancelled`. A
 * poller in each process puts due resends back on the queue, claiming each
 * row first so that one process does; it also recovers sends whose job was
 * lost, and prunes old webhook receipts.
 */
@Injectable()
export class DispatchService implements OnApplicationBootstrap, OnApplicationShutdown {
    private queue: JobQueue<SyncJob>;
    private timer?: NodeJS.Timeout;
    private lastPrune = 0;
    private readonly readyState: string;

    constructor(
        @Inject(PLUGIN_OPTIONS) private options: DriverIntegrationOptions,
        private eventBus: EventBus,
        private jobQueueService: JobQueueService,
        private connection: TransactionalConnection,
        private orderService: OrderService,
        private requestContextService: RequestContextService,
        private deliveries: DriverDeliveryService,
        private sender: OrderSender,
        private moduleRef: ModuleRef,
    ) {
        this.readyState = options.readyState ?? 'PaymentSettled';
    }

    async onApplicationBootstrap() {
        const injector = new Injector(this.moduleRef);
        await this.options.pickupPointStrategy?.init?.(injector);
        await this.options.dropoffPointStrategy?.init?.(injector);
        this.queue = await this.jobQueueService.createQueue({
            name: DISPATCH_QUEUE,
            process: async job => this.sender.sync(await this.freshContext(), job.data.orderId),
        });
        this.eventBus
            .ofType(OrderStateTransitionEvent)
            .pipe(filter(event => event.toState === this.readyState || event.toState === 'Cancelled'))
            .subscribe(event => {
                // A context of its own: the event's transaction has been committed by now.
                const work = this.freshContext().then(ctx =>
                    event.toState === 'Cancelled' ? this.cancelled(ctx, event.order) : this.ready(ctx, event.order),
                );
                work.catch(error => Logger.error(`Order ${event.order.code}: ${(error as Error).message}`, loggerCtx, (error as Error).stack));
            });
        this.timer = setInterval(() => {
            this.poll().catch(error => Logger.error(`Resending: ${(error as Error).message}`, loggerCtx));
        }, this.sender.schedule.pollIntervalMs);
        this.timer.unref();
    }

    onApplicationShutdown() {
        clearInterval(this.timer);
    }

    private freshContext(): Promise<RequestContext> {
        return this.requestContextService.create({ apiType: 'admin' });
    }

    private async ready(ctx: RequestContext, order: Order): Promise<void> {
        // An aggregate order is dispatched as its seller orders, each from its own seller's pickup,
        // once each is ready itself (its own transition dispatches it otherwise).
        const orders =
            order.type === OrderType.Aggregate
                ? (await this.orderService.getSellerOrders(ctx, order)).filter(sellerOrder => sellerOrder.state === this.readyState)
                : [order];
        for (const each of orders) {
            if (await this.deliveries.createQueued(ctx, each, sendLease())) await this.queue.add({ orderId: each.id }, { retries: 3 });
        }
    }

    private async cancelled(ctx: RequestContext, order: Order): Promise<void> {
        const orders = order.type === OrderType.Aggregate ? await this.orderService.getSellerOrders(ctx, order) : [order];
        for (const each of orders) {
            const row = await this.deliveries.findForOrder(ctx, each.id);
            if (!row || SERVICE_FINAL_STATUSES.has(row.status) || row.cancelRequestedAt) continue;
            // The cancellation counts its own sends; it is recorded before it is queued, so a lost job is recovered.
            await this.deliveries.update(ctx, row, { cancelRequestedAt: new Date(), sendAttempts: 0, nextAttemptAt: sendLease() });
            await this.queue.add({ orderId: each.id }, { retries: 3 });
        }
    }

    private async poll(): Promise<void> {
        const ctx = await this.freshContext();
        const repository = this.connection.getRepository(ctx, DriverDelivery);
        const now = new Date();
        const due = await repository.find({ where: { nextAttemptAt: LessThanOrEqual(now) }, order: { nextAttemptAt: 'ASC' }, take: 100 });
        for (const row of due) {
            // The claim: only the process whose update still finds the row due queues it.
            const claimed = await repository.update(
                { id: row.id, nextAttemptAt: LessThanOrEqual(now) },
                { nextAttemptAt: sendLease(), ...(row.status === RETRYING ? { status: QUEUED } : {}) },
            );
            if (claimed.affected === 1) await this.queue.add({ orderId: row.orderId }, { retries: 3 });
        }
        if (Date.now() - this.lastPrune >= PRUNE_EVERY_MS) {
            this.lastPrune = Date.now();
            const days = this.options.webhookReceiptRetentionDays ?? 90;
            await this.connection
                .getRepository(ctx, DriverWebhookReceipt)
                .delete({ createdAt: LessThan(new Date(Date.now() - days * 86_400_000)) });
        }
    }
}
