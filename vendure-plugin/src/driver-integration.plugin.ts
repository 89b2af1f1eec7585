import { PluginCommonModule, Type, VendurePlugin } from '@vendure/core';

import { adminApiExtensions, shopApiExtensions } from './api/api-extensions';
import { AdminOrderDeliveryResolver, ReassignDeliveryResolver, ShopOrderDeliveryResolver } from './api/order-delivery.resolver';
import { WebhookController } from './api/webhook.controller';
import { secretKey } from './client/standard-webhooks';
import { defineCoordinateFields } from './config/custom-fields';
import { AddressDropoffPointStrategy, StockLocationPickupPointStrategy } from './config/default-strategies';
import { driverServiceFulfillmentHandler } from './config/fulfillment-handler';
import { rawBodyMiddleware } from './config/raw-body.middleware';
import { PLUGIN_OPTIONS, WEBHOOK_PATH } from './constants';
import { DriverDelivery } from './entities/driver-delivery.entity';
import { DriverWebhookReceipt } from './entities/driver-webhook-receipt.entity';
import { DispatchService } from './service/dispatch.service';
import { DriverDeliveryService } from './service/driver-delivery.service';
import { FulfillmentSync } from './service/fulfillment-sync';
import { OrderSender } from './service/order-sender';
import { WebhookService } from './service/webhook.service';
import { DriverIntegrationOptions } from './types';

/**
 * Connects Vendure to the driver service: ready orders are dispatched to the
 * nearest driver, and the service's delivery webhooks move each order's
 * fulfillment (Pending → Shipped → Delivered, or Cancelled).
 *
 * @example
 * DriverIntegrationPlugin.init({
 *     serviceUrl: process.env.DRIVER_SERVICE_URL,
 *     webhookSecret: process.env.DRIVER_SERVICE_WEBHOOK_SECRET,
 *     adminApiKey: process.env.DRIVER_SERVICE_ADMIN_API_KEY,
 * })
 */
@VendurePlugin({
    imports: [PluginCommonModule],
    providers: [
        { provide: PLUGIN_OPTIONS, useFactory: () => DriverIntegrationPlugin.options },
        DriverDeliveryService,
        DispatchService,
        FulfillmentSync,
        OrderSender,
        WebhookService,
    ],
    controllers: [WebhookController],
    entities: [DriverDelivery, DriverWebhookReceipt],
    shopApiExtensions: { schema: shopApiExtensions, resolvers: [ShopOrderDeliveryResolver] },
    adminApiExtensions: { schema: adminApiExtensions, resolvers: [AdminOrderDeliveryResolver, ReassignDeliveryResolver] },
    configuration: config => {
        config.shippingOptions.fulfillmentHandlers.push(driverServiceFulfillmentHandler);
        if (DriverIntegrationPlugin.options.defineCustomFields !== false) defineCoordinateFields(config);
        // Before Vendure's JSON parser: the signature is over the exact bytes received.
        config.apiOptions.middleware.push({ route: WEBHOOK_PATH, handler: rawBodyMiddleware, beforeListen: true });
        return config;
    },
    compatibility: '^3.7.0',
})
export class DriverIntegrationPlugin {
    static options: DriverIntegrationOptions;

    /** Checks the options now, so that a missing secret stops start-up instead of failing every request. */
    static init(options: DriverIntegrationOptions): Type<DriverIntegrationPlugin> {
        this.options = {
            ...options,
            pickupPointStrategy: options.pickupPointStrategy ?? new StockLocationPickupPointStrategy(),
            dropoffPointStrategy: options.dropoffPointStrategy ?? new AddressDropoffPointStrategy(),
        };
        validateOptions(this.options);
        return DriverIntegrationPlugin;
    }
}

function validateOptions(options: DriverIntegrationOptions): void {
    const problems: string[] = [];
    let url: URL | undefined;
    try {
        url = new URL(options.serviceUrl);
    } catch {
        problems.push('serviceUrl is not a URL');
    }
    if (url && url.protocol !== 'http:' && url.protocol !== 'https:') problems.push('serviceUrl must be http(s)');
    if (typeof options.webhookSecret !== 'string' || !options.webhookSecret.startsWith('whsec_')) {
        problems.push("webhookSecret must be the service's VENDURE_WEBHOOK_SECRET (whsec_...)");
    } else {
        try {
            if (secretKey(options.webhookSecret).length < 24) problems.push('webhookSecret is shorter than 24 bytes');
        } catch {
            problems.push('webhookSecret is empty');
        }
    }
    const wait = options.dispatch && typeof options.dispatch === 'object' ? options.dispatch.maxWaitSeconds : undefined;
    if (wait !== undefined && !(Number.isInteger(wait) && wait >= 0 && wait <= 86_400)) problems.push('dispatch.maxWaitSeconds must be an integer, 0–86400');
    if (problems.length) throw new Error(`DriverIntegrationPlugin: ${problems.join('; ')}`);
}
