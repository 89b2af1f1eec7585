import { SimpleGraphQLClient } from '@vendure/testing';
import gql from 'graphql-tag';

import { LatLon } from '../../src';

const ORDER_RESULT = `... on Order { id code state type } ... on ErrorResult { errorCode message }`;

const ADD_ITEM = gql`mutation ($variantId: ID!) { addItemToOrder(productVariantId: $variantId, quantity: 1) { ${ORDER_RESULT} } }`;
const SET_CUSTOMER = gql`mutation ($input: CreateCustomerInput!) { setCustomerForOrder(input: $input) { ${ORDER_RESULT} } }`;
const SET_ADDRESS = gql`mutation ($input: CreateAddressInput!) { setOrderShippingAddress(input: $input) { ${ORDER_RESULT} } }`;
const SHIPPING_METHODS = gql`query { eligibleShippingMethods { id } }`;
const SET_SHIPPING = gql`mutation ($ids: [ID!]!) { setOrderShippingMethod(shippingMethodId: $ids) { ${ORDER_RESULT} } }`;
const TRANSITION = gql`mutation ($state: String!) { transitionOrderToState(state: $state) { ${ORDER_RESULT} } }`;
const ADD_PAYMENT = gql`mutation { addPaymentToOrder(input: { method: "settle-at-once", metadata: {} }) { ${ORDER_RESULT} } }`;

export const DELIVERY_FIELDS = `status driverName etaSeconds trackingUrl updatedAt`;
export const SHOP_ORDER = gql`query ($code: String!) { orderByCode(code: $code) { id code state driverDelivery { ${DELIVERY_FIELDS} } driverDeliveries { ${DELIVERY_FIELDS} } } }`;
export const ADMIN_ORDER = gql`query ($id: ID!) {
    order(id: $id) {
        id code state type
        driverDelivery { ${DELIVERY_FIELDS} id deliveryId driverId distanceMeters attempt lastError }
        driverDeliveries { status deliveryId }
        fulfillments { id state method trackingCode }
        sellerOrders { id code state channels { code } driverDelivery { status deliveryId driverId } }
        history(options: { sort: { createdAt: ASC } }) { items { type data } }
    }
}`;
export const CANCEL_ORDER = gql`mutation ($id: ID!) { cancelOrder(input: { orderId: $id, reason: "customer changed their mind" }) { ... on Order { id state } ... on ErrorResult { errorCode message } } }`;
export const REASSIGN = gql`mutation ($id: ID!) { reassignDelivery(orderId: $id, reason: "driver has a flat tyre") { status deliveryId driverId } }`;

function succeeded<T extends { errorCode?: string; message?: string }>(result: T, what: string): T {
    if (result?.errorCode) throw new Error(`${what}: ${result.errorCode} ${result.message}`);
    return result;
}

/** A guest checkout through the Shop API, paid with a payment that settles at once. Returns the order code. */
export async function placePaidOrder(shopClient: SimpleGraphQLClient, variantIds: string[], dropoff?: LatLon): Promise<{ id: string; code: string; state: string }> {
    await shopClient.asAnonymousUser();
    for (const variantId of variantIds) succeeded((await shopClient.query(ADD_ITEM, { variantId })).addItemToOrder, 'addItemToOrder');
    succeeded(
        (await shopClient.query(SET_CUSTOMER, { input: { emailAddress: `guest-${Date.now()}@example.com`, firstName: 'Gina', lastName: 'Guest' } }))
            .setCustomerForOrder,
        'setCustomerForOrder',
    );
    const address = {
        fullName: 'Gina Guest',
        streetLine1: 'Torstraße 1',
        city: 'Berlin',
        postalCode: '10119',
        countryCode: 'DE',
        ...(dropoff ? { customFields: { latitude: dropoff.lat, longitude: dropoff.lon } } : {}),
    };
    succeeded((await shopClient.query(SET_ADDRESS, { input: address })).setOrderShippingAddress, 'setOrderShippingAddress');
    const { eligibleShippingMethods } = await shopClient.query(SHIPPING_METHODS);
    succeeded((await shopClient.query(SET_SHIPPING, { ids: [eligibleShippingMethods[0].id] })).setOrderShippingMethod, 'setOrderShippingMethod');
    succeeded((await shopClient.query(TRANSITION, { state: 'ArrangingPayment' })).transitionOrderToState, 'transitionOrderToState');
    return succeeded((await shopClient.query(ADD_PAYMENT)).addPaymentToOrder, 'addPaymentToOrder');
}

const ACTIVE_CHANNEL = gql`query { activeChannel { id defaultCurrencyCode defaultShippingZone { id } defaultTaxZone { id } } }`;
const UPDATE_CHANNEL = gql`mutation ($input: UpdateChannelInput!) { updateChannel(input: $input) { ... on Channel { id } ... on ErrorResult { errorCode message } } }`;
const CREATE_SELLER = gql`mutation ($name: String!) { createSeller(input: { name: $name }) { id } }`;
const CREATE_CHANNEL = gql`mutation ($input: CreateChannelInput!) { createChannel(input: $input) { ... on Channel { id code token } ... on ErrorResult { errorCode message } } }`;
const ASSIGN_PRODUCTS = gql`mutation ($input: AssignProductsToChannelInput!) { assignProductsToChannel(input: $input) { id } }`;
const CREATE_STOCK_LOCATION = gql`mutation ($input: CreateStockLocationInput!) { createStockLocation(input: $input) { id } }`;
const ASSIGN_STOCK_LOCATIONS = gql`mutation ($input: AssignStockLocationsToChannelInput!) { assignStockLocationsToChannel(input: $input) { id } }`;
const PRODUCTS = gql`query { products { items { id slug variants { id } } } }`;

export async function products(adminClient: SimpleGraphQLClient): Promise<Record<string, { productId: string; variantId: string }>> {
    const { products: list } = await adminClient.query(PRODUCTS);
    return Object.fromEntries(list.items.map((p: any) => [p.slug, { productId: p.id, variantId: p.variants[0].id }]));
}

/** The default channel's pickup point: where a single-vendor shop's orders are collected. */
export async function setDefaultPickup(adminClient: SimpleGraphQLClient, point: LatLon): Promise<void> {
    const { activeChannel } = await adminClient.query(ACTIVE_CHANNEL);
    succeeded(
        (await adminClient.query(UPDATE_CHANNEL, { input: { id: activeChannel.id, customFields: { pickupLatitude: point.lat, pickupLongitude: point.lon } } }))
            .updateChannel,
        'updateChannel',
    );
}

/** A seller with a channel of its own, the product, and a stock location at `pickup`. */
export async function createSeller(adminClient: SimpleGraphQLClient, code: string, productId: string, pickup: LatLon): Promise<{ channelId: string }> {
    const { activeChannel } = await adminClient.query(ACTIVE_CHANNEL);
    const { createSeller: seller } = await adminClient.query(CREATE_SELLER, { name: code });
    const channel = succeeded(
        (
            await adminClient.query(CREATE_CHANNEL, {
                input: {
                    code,
                    token: `${code}-token`,
                    sellerId: seller.id,
                    defaultLanguageCode: 'en',
                    defaultCurrencyCode: activeChannel.defaultCurrencyCode,
                    pricesIncludeTax: true,
                    defaultShippingZoneId: activeChannel.defaultShippingZone.id,
                    defaultTaxZoneId: activeChannel.defaultTaxZone.id,
                },
            })
        ).createChannel,
        'createChannel',
    );
    await adminClient.query(ASSIGN_PRODUCTS, { input: { channelId: channel.id, productIds: [productId], priceFactor: 1 } });
    const { createStockLocation: location } = await adminClient.query(CREATE_STOCK_LOCATION, {
        input: { name: `${code} kitchen`, customFields: { pickupLatitude: pickup.lat, pickupLongitude: pickup.lon } },
    });
    await adminClient.query(ASSIGN_STOCK_LOCATIONS, { input: { channelId: channel.id, stockLocationIds: [location.id] } });
    return { channelId: channel.id };
}

/** Polls until `check` returns a value (not undefined/false), or fails after `timeoutMs` with the last value seen. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
        try {
            const value = await check();
            if (value !== undefined && value !== false) return value;
            last = value;
        } catch (error) {
            last = error;
        }
        if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
        await new Promise(resolve => setTimeout(resolve, 50));
    }
}
