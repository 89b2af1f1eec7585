import gql from 'graphql-tag';

const shared = `
    "A status of the driver service's delivery (PENDING, OFFERED, ASSIGNED, PICKED_UP, DELIVERED, FAILED, CANCELLED, EXPIRED), or QUEUED, RETRYING or NOT_DISPATCHED before the service has the order."
    status: String!
    "The driver's first name (Shop API) or full name (Admin API), when a driver holds the delivery."
    driverName: String
    "Seconds to the next stop, when the service gives one."
    etaSeconds: Int
    "A page where the customer can follow the delivery, when the service gives one."
    trackingUrl: String
    updatedAt: DateTime!
`;

export const shopApiExtensions = gql`
    type DriverDelivery {
        ${shared}
    }

    extend type Order {
        "The delivery of this order by the driver service; null until it is dispatched. On an aggregate order: null, see driverDeliveries."
        driverDelivery: DriverDelivery
        "The deliveries of this order: its own, or each of its seller orders' for an aggregate order."
        driverDeliveries: [DriverDelivery!]!
    }
`;

export const adminApiExtensions = gql`
    type DriverDelivery {
        ${shared}
        id: ID!
        orderId: ID!
        "The driver service's delivery id, once it has one."
        deliveryId: String
        driverId: String
        "Driver to pickup when assigned, metres."
        distanceMeters: Int
        "1 for the first driver, +1 each time the order went back to waiting."
        attempt: Int!
        "The last problem met sending the order to the service."
        lastError: String
    }

    extend type Order {
        driverDelivery: DriverDelivery
        driverDeliveries: [DriverDelivery!]!
    }

    extend type Mutation {
        "Frees the driver of an offered or assigned delivery; the service offers the order to the next nearest driver."
        reassignDelivery(orderId: ID!, reason: String): DriverDelivery!
    }
`;
