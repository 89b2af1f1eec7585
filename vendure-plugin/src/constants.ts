export const PLUGIN_OPTIONS = Symbol('DRIVER_INTEGRATION_PLUGIN_OPTIONS');
export const loggerCtx = 'DriverIntegrationPlugin';

/** Where the service's webhooks arrive: set the service's VENDURE_WEBHOOK_URL to `<shop>/driver-service/webhooks`. */
export const WEBHOOK_CONTROLLER_PATH = 'driver-service';
export const WEBHOOK_ROUTE = 'webhooks';
export const WEBHOOK_PATH = `/${WEBHOOK_CONTROLLER_PATH}/${WEBHOOK_ROUTE}`;

export const FULFILLMENT_HANDLER_CODE = 'driver-service';
export const DISPATCH_QUEUE = 'driver-service-dispatch';

/**
 * A DriverDelivery's status: the service's delivery status once it knows the
 * order, or one of these before (and instead of) that.
 */
export const QUEUED = 'QUEUED';
export const RETRYING = 'RETRYING';
export const NOT_DISPATCHED = 'NOT_DISPATCHED';
export const CANCELLED = 'CANCELLED';

/** The service's final statuses: nothing more happens to such a delivery, and there is nothing left to cancel. */
export const SERVICE_FINAL_STATUSES = new Set(['DELIVERED', 'FAILED', CANCELLED, 'EXPIRED']);
