import {
    ChannelService,
    EntityHydrator,
    idsAreEqual,
    Injector,
    InternalServerError,
    isGraphQlErrorResult,
    Order,
    OrderLine,
    OrderSellerStrategy,
    OrderService,
    RequestContext,
    SplitOrderContents,
} from '@vendure/core';

import { SETTLE_AT_ONCE } from './settle-at-once-payment';

/**
 * A marketplace as in Vendure's multi-vendor example, cut down: a line
 * belongs to the seller whose channel holds its variant; a paid order is split
 * into one seller order per seller, each paid at once.
 */
export class TestSellerStrategy implements OrderSellerStrategy {
    private hydrator: EntityHydrator;
    private channelService: ChannelService;
    private orderService: OrderService;

    init(injector: Injector) {
        this.hydrator = injector.get(EntityHydrator);
        this.channelService = injector.get(ChannelService);
        this.orderService = injector.get(OrderService);
    }

    async setOrderLineSellerChannel(ctx: RequestContext, line: OrderLine) {
        await this.hydrator.hydrate(ctx, line.productVariant, { relations: ['channels'] });
        const defaultChannel = await this.channelService.getDefaultChannel();
        const sellerChannels = line.productVariant.channels.filter(c => !idsAreEqual(c.id, defaultChannel.id));
        return sellerChannels.length === 1 ? sellerChannels[0] : undefined;
    }

    async splitOrder(ctx: RequestContext, order: Order): Promise<SplitOrderContents[]> {
        const bySeller = new Map<string, SplitOrderContents>();
        for (const line of order.lines) {
            if (!line.sellerChannelId) continue;
            const key = String(line.sellerChannelId);
            const part = bySeller.get(key) ?? { channelId: line.sellerChannelId, shippingLines: [], lines: [], state: 'ArrangingPayment' };
            part.lines.push(line);
            bySeller.set(key, part);
        }
        return [...bySeller.values()];
    }

    async afterSellerOrdersCreated(ctx: RequestContext, aggregateOrder: Order, sellerOrders: Order[]) {
        for (const sellerOrder of sellerOrders) {
            await this.orderService.applyPriceAdjustments(ctx, sellerOrder);
            const result = await this.orderService.addPaymentToOrder(ctx, sellerOrder.id, { method: SETTLE_AT_ONCE, metadata: {} });
            if (isGraphQlErrorResult(result)) throw new InternalServerError(result.message);
        }
    }
}
