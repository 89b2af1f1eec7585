import { Injectable } from '@nestjs/common';
import { Fulfillment, FulfillmentState, isGraphQlErrorResult, Order, OrderService, RequestContext, TransactionalConnection } from '@vendure/core';

import { FULFILLMENT_HANDLER_CODE } from '../constants';
import { DriverDelivery } from '../entities/driver-delivery.entity';
import { DriverDeliveryService } from './driver-delivery.service';

/** The fulfillment state each delivery change leads to, through Vendure's own fulfillment process. */
const TARGETS: Record<string, FulfillmentState[]> = {
    'delivery.assigned': ['Pending'],
    'delivery.picked_up': ['Shipped'],
    'delivery.delivered': ['Shipped', 'Delivered'],
    'delivery.failed': ['Cancelled'],
    'delivery.cancelled': ['Cancelled'],
    'delivery.expired': ['Cancelled'],
};
const ENDED: FulfillmentState[] = ['Delivered', 'Cancelled'];

/**
 * Keeps the order's `driver-service` fulfillment in step with its delivery:
 * created when a driver is assigned, Shipped at pickup, Delivered at the
 * drop-off, Cancelled when the delivery fails, is cancelled or expires.
 * Vendure moves the order itself (Shipped, Delivered) as its fulfillments move.
 */
@Injectable()
export class FulfillmentSync {
    constructor(
        private connection: TransactionalConnection,
        private orderService: OrderService,
        private deliveries: DriverDeliveryService,
    ) {}

    async follow(ctx: RequestContext, order: Order, row: DriverDelivery, type: string): Promise<void> {
        const targets = TARGETS[type];
        if (!targets) return;
        const cancelling = targets[0] === 'Cancelled';
        let fulfillment: Fulfillment | null | undefined = row.fulfillmentId ? await this.connection.getRepository(ctx, Fulfillment).findOne({ where: { id: row.fulfillmentId } }) : null;
        if (!fulfillment) {
            if (cancelling) return; // never assigned: nothing was fulfilled
            fulfillment = await this.create(ctx, order, row);
            if (!fulfillment) return;
        }
        for (const state of targets) {
            if (ENDED.includes(fulfillment.state) || state === 'Pending' || fulfillment.state === state) continue;
            const result = await this.orderService.transitionFulfillmentToState(ctx, fulfillment.id, state);
            if (isGraphQlErrorResult(result)) {
                await this.deliveries.note(ctx, order.id, `fulfillment ${fulfillment.id} not moved to ${state}: ${result.message}`);
                return;
            }
            fulfillment = result;
        }
    }

    private async create(ctx: RequestContext, order: Order, row: DriverDelivery): Promise<Fulfillment | undefined> {
        const result = await this.orderService.createFulfillment(ctx, {
            lines: order.lines.map(line => ({ orderLineId: line.id, quantity: line.quantity })),
            handler: { code: FULFILLMENT_HANDLER_CODE, arguments: [{ name: 'deliveryId', value: row.deliveryId ?? '' }] },
        });
        if (isGraphQlErrorResult(result)) {
            // Permanent for this order (its state or its lines): recorded for staff, the delivery goes on.
            await this.deliveries.note(ctx, order.id, `no fulfillment created: ${result.message}`);
            return undefined;
        }
        await this.deliveries.update(ctx, row, { fulfillmentId: result.id });
        return result;
    }
}
