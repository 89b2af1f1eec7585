import { DeepPartial, EntityId, ID, VendureEntity } from '@vendure/core';
import { Column, Entity, Index } from 'typeorm';

/**
 * The driver service's delivery of one order (a seller order, or a single-vendor
 * shop's order), as far as the shop knows it: the answers of the service and
 * the webhooks it sent, applied in order.
 */
@Entity()
export class DriverDelivery extends VendureEntity {
    constructor(input?: DeepPartial<DriverDelivery>) {
        super(input);
    }

    @Index({ unique: true })
    @EntityId()
    orderId: ID;

    /** The order's code: the service's `sellerOrderId`. */
    @Index({ unique: true })
    @Column()
    orderCode: string;

    @Column({ type: 'varchar', nullable: true })
    deliveryId: string | null;

    /** QUEUED, RETRYING, NOT_DISPATCHED, or the service's status (PENDING, OFFERED, ASSIGNED, ...). */
    @Column({ type: 'varchar' })
    status: string;

    @Column({ type: 'varchar', nullable: true })
    driverId: string | null;

    @Column({ type: 'varchar', nullable: true })
    driverName: string | null;

    @Column({ type: 'int', nullable: true })
    distanceMeters: number | null;

    /** The service's attempt: 1 for the first driver, +1 per re-dispatch. */
    @Column({ type: 'int', default: 0 })
    attempt: number;

    @Column({ type: 'int', nullable: true })
    etaSeconds: number | null;

    @Column({ type: 'varchar', nullable: true })
    trackingUrl: string | null;

    @EntityId({ nullable: true })
    fulfillmentId: ID | null;

    /** Sends of seller-order-ready so far. */
    @Column({ type: 'int', default: 0 })
    sendAttempts: number;

    @Column({ type: Date, nullable: true })
    nextAttemptAt: Date | null;

    /** Set when the order was cancelled in Vendure: the service is told until it has answered. */
    @Column({ type: Date, nullable: true })
    cancelRequestedAt: Date | null;

    @Column({ type: 'varchar', length: 500, nullable: true })
    lastError: string | null;
}
