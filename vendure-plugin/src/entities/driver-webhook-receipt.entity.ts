import { DeepPartial, VendureEntity } from '@vendure/core';
import { Column, Entity, Index } from 'typeorm';

/**
 * A webhook from the service that has been applied, recorded in the same
 * transaction as its change: the service sends each message at least once,
 * with the same webhook-id on every attempt, so a repeat is recognised here.
 */
@Entity()
export class DriverWebhookReceipt extends VendureEntity {
    constructor(input?: DeepPartial<DriverWebhookReceipt>) {
        super(input);
    }

    @Index({ unique: true })
    @Column()
    webhookId: string;

    @Column()
    type: string;

    @Column({ type: 'varchar', nullable: true })
    deliveryId: string | null;
}
