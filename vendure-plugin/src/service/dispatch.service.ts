import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { OrderType } from '@vendure/common/lib/generated-types';
import {
    ChannelService,
    EventBus,
    ID,
    idsAreEqual,
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
import { In, IsNull, LessThanOrEqual, Not } from 'typeorm';

import { DriverServiceError, ReadyAnswer, sellerOrderCancelled, sellerOrderReady } from '../client/driver-service-client';
import { CANCELLED, DISPATCH_QUEUE, FINAL_STATUSES, loggerCtx, NOT_DISPATCHED, PLUGIN_OPTIONS, QUEUED, RETRYING } from '../constants';
import { DriverDelivery } from '../entities/driver-delivery.entity';
import { DispatchOptions, DriverIntegrationOptions } from '../types';
import { DriverDeliveryService, roundedMetres } from './driver-delivery.service';
import { retryDelayMs, RetrySchedule, retrySchedule } from './retry-schedule';

interface SyncJob {
    orderId: ID;
}

/**
 * Tells the service about orders: `seller-order-ready` when an order reaches
 * the ready state, `seller-order-cancelled` when it is cancelled. Each send is
 * a job on Vendure's job queue; one that finds no driver or no service is sent
 * again on this plugin's own schedule, kept on the DriverDelivery row
 * (`nextAttemptAt`), so the queue's retry timing plays no part.
 */
@Injectable()
export class DispatchService implements OnApplicationBootstrap, OnApplicationShutdown {
    private queue: JobQueue<SyncJob>;
    private timer?: NodeJS.Timeout;
    private readonly schedule: RetrySchedule;

    constructor(
        @Inject(PLUGIN_OPTIONS) private options: DriverIntegrationOptions,
        private eventBus: EventBus,
        private jobQueueService: JobQueueService,
        private connection: TransactionalConnection,
        private orderService: OrderService,
        private channelService: ChannelService,
        private requestContextService: RequestContextService,
        private deliveries: DriverDeliveryService,
        private moduleRef: ModuleRef,
    ) {
        this.schedule = retrySchedule(options.retry);
    }

    async onApplicationBootstrap() {
        const injector = new Injector(this.moduleRef);
        await this.options.pickupPointStrategy?.init?.(injector);
        await this.options.dropoffPointStrategy?.init?.(injector);
        this.queue = await this.jobQueueService.createQueue({
            name: DISPATCH_QUEUE,
            process: async job => this.sync(job.data.orderId),
        });
        const readyState = this.options.readyState ?? 'PaymentSettled';
        this.eventBus
            .ofType(OrderStateTransitionEvent)
            .pipe(filter(event => event.toState === readyState || event.toState === 'Cancelled'))
            .subscribe(event => {
                // A context of its own: the event's transaction has been committed by now.
                const work = this.requestContextService
                    .create({ apiType: 'admin' })
                    .then(ctx => (event.toState === 'Cancelled' ? this.cancelled(ctx, event.order) : this.ready(ctx, event.order)));
                work.catch(error => Logger.error(`Order ${event.order.code}: ${(error as Error).message}`, loggerCtx, (error as Error).stack));
            });
        this.timer = setInterval(() => {
            this.enqueueDue().catch(error => Logger.error(`Resending: ${(error as Error).message}`, loggerCtx));
        }, this.schedule.pollIntervalMs);
        this.timer.unref();
    }

    onApplicationShutdown() {
        clearInterval(this.timer);
    }

    /** An aggregate order is dispatched as its seller orders, each from its own seller's pickup. */
    private async dispatchable(ctx: RequestContext, order: Order): Promise<Order[]> {
        return order.type === OrderType.Aggregate ? this.orderService.getSellerOrders(ctx, order) : [order];
    }

    private async ready(ctx: RequestContext, order: Order): Promise<void> {
        for (const each of await this.dispatchable(ctx, order)) {
            if (await this.deliveries.createQueued(ctx, each)) await this.queue.add({ orderId: each.id }, { retries: 3 });
        }
    }

    private async cancelled(ctx: RequestContext, order: Order): Promise<void> {
        for (const each of await this.dispatchable(ctx, order)) {
            const row = await this.deliveries.findForOrder(ctx, each.id);
            if (!row || this.deliveries.isFinal(row) || row.cancelRequestedAt) continue;
            await this.deliveries.update(ctx, row, { cancelRequestedAt: new Date(), nextAttemptAt: null });
            await this.queue.add({ orderId: each.id }, { retries: 3 });
        }
    }

    /** Sends that are due again go back on the queue. */
    private async enqueueDue(): Promise<void> {
        const ctx = await this.requestContextService.create({ apiType: 'admin' });
        const due = await this.connection
            .getRepository(ctx, DriverDelivery)
            .find({ where: { nextAttemptAt: LessThanOrEqual(new Date()) }, order: { nextAttemptAt: 'ASC' }, take: 100 });
        for (const row of due) {
            const changes: Partial<DriverDelivery> = { nextAttemptAt: null, ...(row.status === RETRYING ? { status: QUEUED } : {}) };
            await this.deliveries.update(ctx, row, changes);
            await this.queue.add({ orderId: row.orderId }, { retries: 3 });
        }
    }

    /** Does what the order's row asks for: a cancellation to send, or a ready order to send. */
    async sync(orderId: ID): Promise<void> {
        const ctx = await this.requestContextService.create({ apiType: 'admin' });
        const row = await this.deliveries.findForOrder(ctx, orderId);
        if (!row || this.deliveries.isFinal(row)) return;
        if (row.cancelRequestedAt) return this.sendCancel(ctx, row);
        if (row.status === QUEUED) return this.sendReady(ctx, row);
    }

    private async sendReady(ctx: RequestContext, row: DriverDelivery): Promise<void> {
        const order = await this.connection.getRepository(ctx, Order).findOne({ where: { id: row.orderId }, relations: ['channels'] });
        if (!order) return;
        const sellerChannel = await this.sellerChannel(order);
        const pickup = await this.options.pickupPointStrategy!.pickupPoint(ctx, order, sellerChannel);
        if (!pickup) {
            const reason = `no pickup point for channel "${sellerChannel.code}": set its pickupLatitude/pickupLongitude (or a stock location's)`;
            await this.deliveries.update(ctx, row, { status: NOT_DISPATCHED, lastError: reason });
            await this.deliveries.note(ctx, order.id, `not dispatched, ${reason}`);
            return;
        }
        const dropoff = await this.options.dropoffPointStrategy!.dropoffPoint(ctx, order);
        const dispatch = await this.dispatchOptions(ctx, order);
        await this.deliveries.update(ctx, row, { sendAttempts: row.sendAttempts + 1 });

        let answer: ReadyAnswer;
        try {
            answer = await sellerOrderReady(this.deliveries.serviceOptions, {
                sellerOrderId: order.code,
                pickupLat: pickup.lat,
                pickupLon: pickup.lon,
                ...(dropoff ? { dropoffLat: dropoff.lat, dropoffLon: dropoff.lon } : {}),
                channelId: sellerChannel.code,
                ...dispatch,
            });
        } catch (error) {
            return this.sendFailed(ctx, row, error);
        }
        if (!('deliveryId' in answer)) return this.retryLater(ctx, row, 'no driver available');
        await this.deliveries.updateIf(ctx, row.id, [QUEUED], {
            deliveryId: answer.deliveryId,
            status: answer.status ?? 'ASSIGNED',
            driverId: 'driverId' in answer ? answer.driverId : null,
            distanceMeters: 'distanceMeters' in answer ? roundedMetres(answer.distanceMeters) : null,
            lastError: null,
        });
        // A webhook may have come first and already moved the row on; it knows the delivery too.
        await this.connection.getRepository(ctx, DriverDelivery).update({ id: row.id, deliveryId: IsNull() }, { deliveryId: answer.deliveryId });
        // Cancelled while this send was on its way: the cancellation sent meanwhile found nothing to cancel.
        const after = await this.deliveries.findForOrder(ctx, row.orderId);
        if (after?.cancelRequestedAt && !this.deliveries.isFinal(after)) await this.sendCancel(ctx, after);
    }

    private async sendCancel(ctx: RequestContext, row: DriverDelivery): Promise<void> {
        await this.deliveries.update(ctx, row, { sendAttempts: row.sendAttempts + 1 });
        try {
            await sellerOrderCancelled(this.deliveries.serviceOptions, row.orderCode, 'order cancelled in Vendure');
        } catch (error) {
            if (error instanceof DriverServiceError && error.retryable) return this.retryLater(ctx, row, error.message);
            if (error instanceof DriverServiceError && error.code === 'DELIVERY_ALREADY_FINISHED') {
                await this.deliveries.update(ctx, row, { nextAttemptAt: null, lastError: error.message });
                await this.deliveries.note(ctx, row.orderId, 'the order was cancelled, but its delivery had already finished');
                return;
            }
            // DELIVERY_NOT_FOUND: the service never had the order, so there is nothing to cancel there.
            if (!(error instanceof DriverServiceError && error.code === 'DELIVERY_NOT_FOUND')) throw error;
        }
        await this.connection
            .getRepository(ctx, DriverDelivery)
            .update({ id: row.id, status: Not(In([...FINAL_STATUSES])) }, { status: CANCELLED, nextAttemptAt: null });
    }

    private async sendFailed(ctx: RequestContext, row: DriverDelivery, error: unknown): Promise<void> {
        if (!(error instanceof DriverServiceError)) throw error;
        if (error.retryable) return this.retryLater(ctx, row, error.message);
        // A final refusal (an invalid pickup point, a wrong secret): sending it again would not help.
        await this.deliveries.updateIf(ctx, row.id, [QUEUED], { status: NOT_DISPATCHED, lastError: error.message });
        await this.deliveries.note(ctx, row.orderId, `not dispatched: ${error.message}`);
        Logger.error(`Order ${row.orderCode} not dispatched: ${error.message}`, loggerCtx);
    }

    /** Sends again after a wait that grows with each send, up to `maxAttempts` sends. */
    private async retryLater(ctx: RequestContext, row: DriverDelivery, reason: string): Promise<void> {
        const fresh = (await this.deliveries.findForOrder(ctx, row.orderId)) ?? row;
        const cancelling = fresh.cancelRequestedAt !== null;
        if (fresh.sendAttempts >= this.schedule.maxAttempts) {
            const status = !cancelling && fresh.status === QUEUED ? NOT_DISPATCHED : fresh.status;
            await this.deliveries.update(ctx, fresh, { status, nextAttemptAt: null, lastError: reason });
            await this.deliveries.note(ctx, fresh.orderId, `gave up after ${fresh.sendAttempts} sends: ${reason}`);
            return;
        }
        const nextAttemptAt = new Date(Date.now() + retryDelayMs(this.schedule, fresh.sendAttempts));
        const status = !cancelling && fresh.status === QUEUED ? RETRYING : fresh.status;
        await this.deliveries.update(ctx, fresh, { status, nextAttemptAt, lastError: reason });
    }

    private async sellerChannel(order: Order) {
        const defaultChannel = await this.channelService.getDefaultChannel();
        return order.channels.find(channel => !idsAreEqual(channel.id, defaultChannel.id)) ?? defaultChannel;
    }

    private async dispatchOptions(ctx: RequestContext, order: Order): Promise<DispatchOptions> {
        const { dispatch } = this.options;
        const chosen = typeof dispatch === 'function' ? await dispatch(ctx, order) : dispatch;
        return {
            ...(chosen?.dispatchMode ? { dispatchMode: chosen.dispatchMode } : {}),
            ...(chosen?.maxWaitSeconds !== undefined ? { maxWaitSeconds: chosen.maxWaitSeconds } : {}),
        };
    }
}
