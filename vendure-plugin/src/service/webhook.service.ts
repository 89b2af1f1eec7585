import { Inject, Injectable } from '@nestjs/common';
import { Logger, Order, RequestContext, RequestContextService, TransactionalConnection } from '@vendure/core';

import { createTrackingLink, getDriver } from '../client/driver-service-client';
import { HeaderBag, verifySignature, WebhookVerificationError } from '../client/standard-webhooks';
import { loggerCtx, PLUGIN_OPTIONS, SERVICE_FINAL_STATUSES } from '../constants';
import { DriverDelivery } from '../entities/driver-delivery.entity';
import { DriverWebhookReceipt } from '../entities/driver-webhook-receipt.entity';
import { DriverIntegrationOptions } from '../types';
import { DriverDeliveryService, roundedMetres, roundedSeconds } from './driver-delivery.service';
import { FulfillmentSync } from './fulfillment-sync';

/** The body of a webhook from the service (`delivery.*`); fields the plugin does not know are ignored. */
export interface DeliveryWebhook {
    type: string;
    timestamp: string;
    data: {
        deliveryId: string;
        sellerOrderId: string;
        channelId: string | null;
        driverId: string | null;
        status: string;
        distanceMeters: number | null;
        occurredAt: string;
        attempt?: number;
        reason?: string;
        etaSeconds?: number | null;
        trackingUrl?: string | null;
    };
}

export interface WebhookResult {
    /** 2xx tells the service the message is done; anything else makes it send it again later. */
    status: number;
    outcome: 'applied' | 'duplicate' | 'unknown-order' | 'stale-delivery' | 'rejected' | 'invalid' | 'failed';
    message?: string;
}

/** Driver names by id: a driver's name rarely changes, and one lookup per assignment is plenty. */
const NAME_CACHE_SIZE = 1_000;

@Injectable()
export class WebhookService {
    private readonly names = new Map<string, string>();

    constructor(
        @Inject(PLUGIN_OPTIONS) private options: DriverIntegrationOptions,
        private connection: TransactionalConnection,
        private requestContextService: RequestContextService,
        private deliveries: DriverDeliveryService,
        private fulfillments: FulfillmentSync,
    ) {}

    /**
     * Verifies the signature over the raw body (fail closed), then applies the
     * message once: its webhook-id is recorded in the same transaction as the
     * order's change, so a repeat, however late, changes nothing.
     */
    async handle(headers: HeaderBag, rawBody: Buffer | undefined): Promise<WebhookResult> {
        let webhookId: string;
        try {
            if (!rawBody) throw new WebhookVerificationError('No raw body to verify');
            webhookId = verifySignature(this.options.webhookSecret, headers, rawBody).id;
        } catch (error) {
            if (!(error instanceof WebhookVerificationError)) throw error;
            return { status: 401, outcome: 'rejected', message: error.message };
        }
        const message = parseWebhook(rawBody);
        if (!message) return { status: 400, outcome: 'invalid', message: 'Not a delivery webhook' };

        const driverName = await this.driverName(message.data.driverId);
        const trackingUrl = message.type === 'delivery.assigned' ? await this.trackingUrl(message.data.deliveryId, webhookId) : null;
        const ctx = await this.requestContextService.create({ apiType: 'admin' });
        try {
            return await this.connection.withTransaction(ctx, tx => this.apply(tx, webhookId, message, driverName, trackingUrl));
        } catch (error) {
            Logger.error(`Webhook ${webhookId} (${message.type}) not applied: ${(error as Error).message}`, loggerCtx, (error as Error).stack);
            return { status: 503, outcome: 'failed', message: 'Not applied; send it again' };
        }
    }

    private async apply(
        ctx: RequestContext,
        webhookId: string,
        message: DeliveryWebhook,
        driverName: string | null,
        trackingUrl: string | null,
    ): Promise<WebhookResult> {
        const receipts = this.connection.getRepository(ctx, DriverWebhookReceipt);
        if (await receipts.findOne({ where: { webhookId } })) return { status: 204, outcome: 'duplicate' };
        await receipts.insert(new DriverWebhookReceipt({ webhookId, type: message.type, deliveryId: message.data.deliveryId }));

        const { data } = message;
        const order = await this.connection.getRepository(ctx, Order).findOne({ where: { code: data.sellerOrderId }, relations: ['lines'] });
        if (!order) {
            // Acknowledged: sending it again would not make the order appear.
            Logger.warn(`Webhook ${webhookId}: no order with code ${data.sellerOrderId}`, loggerCtx);
            return { status: 204, outcome: 'unknown-order' };
        }
        let row = await this.deliveries.findForOrder(ctx, order.id);
        if (!row) {
            await this.deliveries.createQueued(ctx, order);
            row = (await this.deliveries.findForOrder(ctx, order.id))!;
        }
        const newDelivery = row.deliveryId !== null && row.deliveryId !== data.deliveryId;
        if (newDelivery && !SERVICE_FINAL_STATUSES.has(row.status)) {
            // A late message of an earlier delivery of this order: the current one decides.
            Logger.warn(`Webhook ${webhookId}: delivery ${data.deliveryId} is not order ${order.code}'s current delivery ${row.deliveryId}`, loggerCtx);
            return { status: 204, outcome: 'stale-delivery' };
        }
        const live = !SERVICE_FINAL_STATUSES.has(data.status);
        const cancelling = row.cancelRequestedAt !== null && live;
        row = await this.deliveries.update(ctx, row, {
            deliveryId: data.deliveryId,
            status: data.status,
            driverId: data.driverId,
            driverName: data.driverId ? (driverName ?? (data.driverId === row.driverId ? row.driverName : null)) : null,
            distanceMeters: roundedMetres(data.distanceMeters),
            attempt: data.attempt ?? row.attempt,
            etaSeconds: roundedSeconds(data.etaSeconds),
            trackingUrl: trackingUrl ?? data.trackingUrl ?? (newDelivery ? null : row.trackingUrl),
            // A new delivery of the order (after a failed one, say) gets a fulfillment of its own.
            ...(newDelivery ? { fulfillmentId: null } : {}),
            // The service has the order now, so a scheduled resend of seller-order-ready is moot; a live
            // delivery of an order cancelled meanwhile is cancelled at the next poll.
            nextAttemptAt: cancelling ? new Date() : row.cancelRequestedAt ? row.nextAttemptAt : null,
            lastError: null,
        });
        if (cancelling) {
            await this.deliveries.note(ctx, order.id, `${describe(message, row)}, after the order was cancelled: cancelling it`);
            return { status: 204, outcome: 'applied' };
        }
        await this.fulfillments.follow(ctx, order, row, message.type);
        await this.deliveries.note(ctx, order.id, describe(message, row));
        return { status: 204, outcome: 'applied' };
    }

    /**
     * The customer's tracking link, asked for when a driver is assigned (the
     * service's live tracking), or null when tracking links are off or the
     * service does not answer in time: the assignment is applied all the same.
     * The request's id comes from the webhook's, so a retry of this webhook
     * gets the same link.
     */
    private async trackingUrl(deliveryId: string, webhookId: string): Promise<string | null> {
        if (this.options.trackingLinks === false) return null;
        try {
            const link = await createTrackingLink({ ...this.deliveries.serviceOptions, retryDelaysMs: [], timeoutMs: 2_000 }, deliveryId, `trk_${webhookId}`);
            return link.url;
        } catch (error) {
            Logger.warn(`No tracking link for delivery ${deliveryId}: ${(error as Error).message}`, loggerCtx);
            return null;
        }
    }

    private async driverName(driverId: string | null): Promise<string | null> {
        if (!driverId || !this.options.adminApiKey) return null;
        const known = this.names.get(driverId);
        if (known) return known;
        try {
            // Briefly: the service waits 15 s for this webhook's answer, and the name is not worth a retry.
            const driver = await getDriver({ ...this.deliveries.serviceOptions, retryDelaysMs: [], timeoutMs: 2_000 }, driverId);
            if (this.names.size >= NAME_CACHE_SIZE) this.names.delete(this.names.keys().next().value!);
            this.names.set(driverId, driver.name);
            return driver.name;
        } catch (error) {
            // The name is a courtesy: the delivery is applied without it.
            Logger.warn(`Driver ${driverId}: name not available (${(error as Error).message})`, loggerCtx);
            return null;
        }
    }
}

function parseWebhook(rawBody: Buffer): DeliveryWebhook | undefined {
    let message: DeliveryWebhook;
    try {
        message = JSON.parse(rawBody.toString('utf8')) as DeliveryWebhook;
    } catch {
        return undefined;
    }
    const data = message?.data;
    const valid =
        typeof message?.type === 'string' &&
        typeof data?.deliveryId === 'string' &&
        typeof data.sellerOrderId === 'string' &&
        typeof data.status === 'string';
    return valid ? message : undefined;
}

function describe(message: DeliveryWebhook, row: DriverDelivery): string {
    const { data } = message;
    const driver = data.driverId ? ` driver ${row.driverName ? `${row.driverName} (${data.driverId})` : data.driverId}` : '';
    const distance = data.distanceMeters !== null && data.distanceMeters !== undefined ? `, ${(data.distanceMeters / 1000).toFixed(1)} km from the pickup` : '';
    const reason = data.reason ? ` (${data.reason})` : '';
    return `delivery ${data.deliveryId} ${data.status}${driver}${distance}${reason}`;
}
