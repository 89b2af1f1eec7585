import { Channel, Injector, Order, RequestContext } from '@vendure/core';

export interface LatLon {
    lat: number;
    lon: number;
}

/** Where the driver collects a seller order. */
export interface PickupPointStrategy {
    init?(injector: Injector): void | Promise<void>;
    /** `sellerChannel` is the order's seller channel, or the default channel for a single-vendor shop. */
    pickupPoint(ctx: RequestContext, order: Order, sellerChannel: Channel): Promise<LatLon | undefined>;
}

/** Where the driver takes a seller order. `undefined`: sent without a drop-off (the service allows it). */
export interface DropoffPointStrategy {
    init?(injector: Injector): void | Promise<void>;
    dropoffPoint(ctx: RequestContext, order: Order): Promise<LatLon | undefined>;
}

/** Passed through to `seller-order-ready`; unset fields use the service's defaults. */
export interface DispatchOptions {
    dispatchMode?: 'auto' | 'offer';
    /** How long (0–86400 s) the service keeps an order waiting for a driver. */
    maxWaitSeconds?: number;
}

export interface SendRetryOptions {
    /** Wait before the first resend. Default 30 s. */
    initialDelayMs?: number;
    /** Longest wait between resends. Default 15 min. */
    maxDelayMs?: number;
    /** Sends in all before the order is marked NOT_DISPATCHED. Default 20. */
    maxAttempts?: number;
    /** How often each process looks for sends that are due. Default 5 s. */
    pollIntervalMs?: number;
}

export interface DriverIntegrationOptions {
    /** The driver service's base URL, e.g. `https://drivers.internal:3001`. */
    serviceUrl: string;
    /** The service's VENDURE_WEBHOOK_SECRET (`whsec_...`): signs events, verifies webhooks. */
    webhookSecret: string;
    /** The service's ADMIN_API_KEY: reassignment and driver names. Unset: both are unavailable. */
    adminApiKey?: string;
    /** The order state that means "ready for pickup". Default `PaymentSettled`. */
    readyState?: string;
    /** Default: coordinates in custom fields of the seller's stock location, else of its channel. */
    pickupPointStrategy?: PickupPointStrategy;
    /** Default: coordinates in custom fields of the shipping address. */
    dropoffPointStrategy?: DropoffPointStrategy;
    /** Static, or chosen per order. */
    dispatch?: DispatchOptions | ((ctx: RequestContext, order: Order) => DispatchOptions | Promise<DispatchOptions>);
    /** Backoff of sends that found no driver or no service; independent of the job queue's own retries. */
    retry?: SendRetryOptions;
    /** Define the latitude/longitude custom fields the default strategies read. Default true. */
    defineCustomFields?: boolean;
    /** Days a received webhook's id is kept to recognise a repeat. Default 90 (the service retries for about 28 h; operators can resend later). */
    webhookReceiptRetentionDays?: number;
    /** Per request to the service. Default 15 s. */
    requestTimeoutMs?: number;
    /** Ask the service for a customer's tracking link when a driver is assigned (`Order.driverDelivery.trackingUrl`). Default true. */
    trackingLinks?: boolean;
}
