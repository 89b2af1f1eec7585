import { FulfillmentHandler, LanguageCode } from '@vendure/core';

import { FULFILLMENT_HANDLER_CODE } from '../constants';

/**
 * The fulfillment of an order that a driver of the service carries. The plugin
 * creates it when a driver is assigned and moves it with the delivery:
 * Pending → Shipped (picked up) → Delivered, or Cancelled.
 */
export const driverServiceFulfillmentHandler = new FulfillmentHandler({
    code: FULFILLMENT_HANDLER_CODE,
    description: [{ languageCode: LanguageCode.en, value: 'Delivery by a driver of the driver service' }],
    args: {
        deliveryId: {
            type: 'string',
            label: [{ languageCode: LanguageCode.en, value: 'Driver service delivery id' }],
        },
    },
    createFulfillment: (ctx, orders, lines, args) => ({
        method: 'Driver service',
        trackingCode: args.deliveryId,
    }),
});
