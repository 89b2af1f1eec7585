export * from './driver-integration.plugin';
export * from './types';
export { DriverDelivery } from './entities/driver-delivery.entity';
export { DriverWebhookReceipt } from './entities/driver-webhook-receipt.entity';
export { AddressDropoffPointStrategy, StockLocationPickupPointStrategy, coordinatesOf } from './config/default-strategies';
export { driverServiceFulfillmentHandler } from './config/fulfillment-handler';
export { WEBHOOK_PATH, FULFILLMENT_HANDLER_CODE } from './constants';
export * from './client/driver-service-client';
export { signedHeaders, verifySignature, WebhookVerificationError } from './client/standard-webhooks';
