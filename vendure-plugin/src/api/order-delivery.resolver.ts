import { Args, Mutation, Parent, ResolveField, Resolver } from '@nestjs/graphql';
import { OrderType, Permission } from '@vendure/common/lib/generated-types';
import { Allow, Ctx, ID, Order, OrderService, RequestContext, UserInputError } from '@vendure/core';

import { DriverServiceError, reassignDelivery } from '../client/driver-service-client';
import { DriverDelivery } from '../entities/driver-delivery.entity';
import { DriverDeliveryService } from '../service/driver-delivery.service';

async function deliveriesOf(deliveries: DriverDeliveryService, orderService: OrderService, ctx: RequestContext, order: Order): Promise<DriverDelivery[]> {
    if (order.type !== OrderType.Aggregate) return deliveries.findForOrders(ctx, [order.id]);
    const sellerOrders = await orderService.getSellerOrders(ctx, order);
    return deliveries.findForOrders(ctx, sellerOrders.map(o => o.id));
}

/** The customer sees the status, the driver's first name, the ETA and the tracking link: nothing else. */
function forCustomer(row: DriverDelivery) {
    return {
        status: row.status,
        driverName: row.driverName ? row.driverName.trim().split(/\s+/)[0] : null,
        etaSeconds: row.etaSeconds,
        trackingUrl: row.trackingUrl,
        updatedAt: row.updatedAt,
    };
}

@Resolver('Order')
export class ShopOrderDeliveryResolver {
    constructor(
        private deliveries: DriverDeliveryService,
        private orderService: OrderService,
    ) {}

    @ResolveField()
    async driverDelivery(@Ctx() ctx: RequestContext, @Parent() order: Order) {
        if (order.type === OrderType.Aggregate) return null;
        const row = await this.deliveries.findForOrder(ctx, order.id);
        return row ? forCustomer(row) : null;
    }

    @ResolveField()
    async driverDeliveries(@Ctx() ctx: RequestContext, @Parent() order: Order) {
        return (await deliveriesOf(this.deliveries, this.orderService, ctx, order)).map(forCustomer);
    }
}

@Resolver('Order')
export class AdminOrderDeliveryResolver {
    constructor(
        private deliveries: DriverDeliveryService,
        private orderService: OrderService,
    ) {}

    @ResolveField()
    async driverDelivery(@Ctx() ctx: RequestContext, @Parent() order: Order) {
        return order.type === OrderType.Aggregate ? null : this.deliveries.findForOrder(ctx, order.id);
    }

    @ResolveField()
    driverDeliveries(@Ctx() ctx: RequestContext, @Parent() order: Order) {
        return deliveriesOf(this.deliveries, this.orderService, ctx, order);
    }
}

@Resolver()
export class ReassignDeliveryResolver {
    constructor(
        private deliveries: DriverDeliveryService,
        private orderService: OrderService,
    ) {}

    // No transaction around it: the call to the service can take seconds, and the webhooks it causes write the row.
    @Mutation()
    @Allow(Permission.UpdateOrder)
    async reassignDelivery(@Ctx() ctx: RequestContext, @Args() args: { orderId: ID; reason?: string }): Promise<DriverDelivery> {
        // Found through the caller's channel, so a seller's administrator reaches only that seller's orders.
        const order = await this.orderService.findOne(ctx, args.orderId);
        const row = order ? await this.deliveries.findForOrder(ctx, order.id) : null;
        if (!order || !row?.deliveryId) throw new UserInputError(`Order ${args.orderId} has no delivery at the driver service`);
        try {
            await reassignDelivery(this.deliveries.serviceOptions, row.deliveryId, args.reason);
        } catch (error) {
            if (error instanceof DriverServiceError) throw new UserInputError(`Not reassigned: ${error.message}`);
            throw error;
        }
        // The row follows the delivery.pending (and later) webhooks, in order; it is not written from this answer.
        return (await this.deliveries.findForOrder(ctx, order.id))!;
    }
}
