import { Channel, Injector, Order, RequestContext, StockLocation, TransactionalConnection } from '@vendure/core';

import { DropoffPointStrategy, LatLon, PickupPointStrategy } from '../types';

type WithCoordinates = { customFields?: object } | undefined | null;

/** Both fields, finite; otherwise undefined. */
export function coordinatesOf(entity: WithCoordinates, latField: string, lonField: string): LatLon | undefined {
    const fields = entity?.customFields as Record<string, unknown> | undefined;
    const lat = fields?.[latField];
    const lon = fields?.[lonField];
    if (typeof lat !== 'number' || typeof lon !== 'number' || !Number.isFinite(lat) || !Number.isFinite(lon)) {
        return undefined;
    }
    return { lat, lon };
}

/**
 * The pickup point is the `pickupLatitude`/`pickupLongitude` of the seller
 * channel's first stock location that has them (lowest id), else of the
 * seller channel itself.
 */
export class StockLocationPickupPointStrategy implements PickupPointStrategy {
    private connection: TransactionalConnection;

    init(injector: Injector) {
        this.connection = injector.get(TransactionalConnection);
    }

    async pickupPoint(ctx: RequestContext, order: Order, sellerChannel: Channel): Promise<LatLon | undefined> {
        const locations = await this.connection
            .getRepository(ctx, StockLocation)
            .createQueryBuilder('location')
            .innerJoin('location.channels', 'channel', 'channel.id = :channelId', { channelId: sellerChannel.id })
            .orderBy('location.id', 'ASC')
            .getMany();
        for (const location of locations) {
            const point = coordinatesOf(location, 'pickupLatitude', 'pickupLongitude');
            if (point) return point;
        }
        return coordinatesOf(sellerChannel, 'pickupLatitude', 'pickupLongitude');
    }
}

/** The drop-off point is the `latitude`/`longitude` custom fields of the order's shipping address. */
export class AddressDropoffPointStrategy implements DropoffPointStrategy {
    async dropoffPoint(ctx: RequestContext, order: Order): Promise<LatLon | undefined> {
        return coordinatesOf(order.shippingAddress as WithCoordinates, 'latitude', 'longitude');
    }
}
