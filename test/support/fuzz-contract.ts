import fc from 'fast-check';
import { STATUS_CODES } from 'node:http';
import { Schema, text } from './fuzz-values.js';

/**
 * The HTTP contract (/work/shared/api-contract.md) restated for the fuzz
 * suite: who may call each route, what it takes, and which refusals it gives.
 * Written from the contract, not read from the service, so that the suite
 * checks the one against the other.
 */

export type Caller = 'admin' | 'driver' | 'driver-backend' | 'vendure';
export type DriverKey = 'A' | 'B' | 'C' | 'E' | 'I';
export type DeliveryKey = 'D1' | 'D2' | 'D3' | 'D4' | 'D5';
export type DeliveryStatus = 'ASSIGNED' | 'PICKED_UP' | 'DELIVERED' | 'FAILED' | 'CANCELLED';

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const MESSAGE_ID = /^msg_[0-9a-f-]{36}$/;

/** ASSIGNED → PICKED_UP → DELIVERED; ASSIGNED | PICKED_UP → FAILED | CANCELLED. */
export const NEXT: Record<DeliveryStatus, DeliveryStatus[]> = {
  ASSIGNED: ['PICKED_UP', 'FAILED', 'CANCELLED'],
  PICKED_UP: ['DELIVERED', 'FAILED', 'CANCELLED'],
  DELIVERED: [],
  FAILED: [],
  CANCELLED: [],
};

/** What the test set up (see the spec's beforeAll), as the oracle needs it. */
export interface Fixtures {
  drivers: Record<DriverKey, { id: string; token: string; phone: string }>;
  /** E's first token, revoked by a rotation. */
  revokedToken: string;
  deliveries: Record<DeliveryKey, { id: string; driver: DriverKey; status: DeliveryStatus; sellerOrderId: string }>;
  deliveredMessages: string[];
  pendingMessages: string[];
}

export type Principal =
  { kind: 'admin' } | { kind: 'driver'; who: DriverKey } | { kind: 'vendure' } | { kind: 'driver-backend' } | { kind: 'anyone' };

/** A refusal the oracle expects, with the step of request handling that gives it. */
export interface Outcome {
  level: Level;
  status: number[];
  codes: string[];
  why: string;
}

/** Request handling in order: the first step that refuses decides the answer. */
export enum Level {
  Url = 0, // routing: unknown route, undecodable URL, over-long path parameter
  Transport = 1, // body: media type, size, JSON syntax
  Auth = 2, // credentials and who may call the route
  Replay = 3, // a signed request's webhook-id
  Validation = 4, // path, query and body against the DTOs
  Domain = 5, // what the data says: not found, conflicts, someone else's resource
}

export const refuse = (level: Level, status: number | number[], codes: string | string[], why: string): Outcome => ({
  level,
  status: Array.isArray(status) ? status : [status],
  codes: Array.isArray(codes) ? codes : [codes],
  why,
});

export const reasonPhrase = (status: number) => STATUS_CODES[status];

// ------------------------------------------------------------------ query schemas

export type QueryParam =
  | { type: 'int'; min: number; max: number }
  | { type: 'number'; min: number; max: number }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'string'; max: number }
  | { type: 'uuid' }
  | { type: 'cursor'; issued: (cursor: string) => boolean };
export type QuerySchema = Record<string, { param: QueryParam; required?: boolean }>;

const decodedCursor = (cursor: string) => Buffer.from(cursor, 'base64url').toString();
const page = (issued: RegExp): QuerySchema => ({
  limit: { param: { type: 'int', min: 1, max: 200 } },
  cursor: { param: { type: 'cursor', issued: (c) => issued.test(decodedCursor(c)) } },
});

// ------------------------------------------------------------------ body schemas

/** Order ids: the fixtures' (SO-1..SO-5) and new ones. */
const sellerOrderId = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('SO-1', 'SO-2', 'SO-3', 'SO-4', 'SO-5') },
  { weight: 2, arbitrary: text(60, 1).map((s) => `FZ-${s}`) },
);

export function schemas(fixtures: () => Fixtures, freshPhone: fc.Arbitrary<string>) {
  const knownPhones = fc.constantFrom('A', 'B', 'C', 'E', 'I').map((k) => fixtures().drivers[k].phone);
  const phone = fc.oneof(knownPhones, freshPhone);
  const createDriver: Schema = {
    name: { field: { type: 'string', max: 200, trim: true, nonEmpty: true, valid: text(40, 1), stored: true }, presence: 'required' },
    phone: { field: { type: 'phone', valid: phone }, presence: 'required' },
    vehicleType: { field: { type: 'string', max: 50, trim: true, nonEmpty: true, stored: true }, presence: 'optional' },
  };
  const updateDriver: Schema = {
    name: { field: { type: 'string', max: 200, trim: true, nonEmpty: true, valid: text(40, 1), stored: true }, presence: 'omittable' },
    phone: { field: { type: 'phone', valid: phone }, presence: 'omittable' },
    vehicleType: { field: { type: 'string', max: 50, trim: true, nonEmpty: true, stored: true }, presence: 'optional' },
    isActive: { field: { type: 'boolean' }, presence: 'omittable' },
  };
  const location: Schema = {
    lat: { field: { type: 'number', min: -90, max: 90 }, presence: 'required' },
    lon: { field: { type: 'number', min: -180, max: 180 }, presence: 'required' },
    accuracy: { field: { type: 'number', min: 0, max: 100_000 }, presence: 'optional' },
    heading: { field: { type: 'number', min: 0, max: 360 }, presence: 'optional' },
    speed: { field: { type: 'number', min: 0, max: 150 }, presence: 'optional' },
    recordedAt: { field: { type: 'datetime' }, presence: 'omittable' },
  };
  const locationPoint: Schema = { ...location, recordedAt: { field: { type: 'datetime' }, presence: 'required' } };
  const locationBatch: Schema = { points: { field: { type: 'array', of: locationPoint, min: 1, max: 100 }, presence: 'required' } };
  const driverStatus: Schema = {
    status: { field: { type: 'enum', values: ['AVAILABLE', 'OFFLINE'] }, presence: 'required' },
  };
  const deliveryStatus: Schema = {
    status: { field: { type: 'enum', values: ['PICKED_UP', 'DELIVERED', 'FAILED', 'CANCELLED'] }, presence: 'required' },
    reason: { field: { type: 'string', max: 500, trim: true, nonEmpty: true }, presence: 'optional' },
  };
  const orderReady: Schema = {
    sellerOrderId: {
      field: { type: 'string', max: 200, trim: false, nonEmpty: true, valid: sellerOrderId, stored: true },
      presence: 'required',
    },
    pickupLat: { field: { type: 'number', min: -90, max: 90 }, presence: 'required' },
    pickupLon: { field: { type: 'number', min: -180, max: 180 }, presence: 'required' },
    dropoffLat: { field: { type: 'number', min: -90, max: 90 }, presence: { pair: 'dropoff' } },
    dropoffLon: { field: { type: 'number', min: -180, max: 180 }, presence: { pair: 'dropoff' } },
    channelId: { field: { type: 'string', max: 200, trim: false, nonEmpty: true }, presence: 'optional' },
    dispatchMode: { field: { type: 'enum', values: ['auto', 'offer'] }, presence: 'optional' },
    maxWaitSeconds: { field: { type: 'int', min: 0, max: 86_400 }, presence: 'optional' },
  };
  const orderCancelled: Schema = {
    sellerOrderId: { field: { type: 'string', max: 200, trim: false, nonEmpty: true, valid: sellerOrderId }, presence: 'required' },
    reason: { field: { type: 'string', max: 500, trim: false, nonEmpty: false }, presence: 'optional' },
  };
  const answerReason: Schema = {
    reason: { field: { type: 'string', max: 500, trim: false, nonEmpty: false }, presence: 'optional' },
  };
  // The fixtures' drivers, and drivers there are none of.
  const driverIds = fc.oneof(
    fc.constantFrom('A', 'B', 'C', 'E', 'I').map((k) => fixtures().drivers[k].id),
    fc.uuid({ version: 4 }),
  );
  const acceptOffer: Schema = { driverId: { field: { type: 'uuid', valid: driverIds }, presence: 'optional' } };
  const declineOffer: Schema = { ...acceptOffer, ...answerReason };
  return {
    createDriver,
    updateDriver,
    location,
    locationBatch,
    driverStatus,
    deliveryStatus,
    orderReady,
    orderCancelled,
    answerReason,
    acceptOffer,
    declineOffer,
  };
}

const DELIVERY_STATUSES = ['PENDING', 'OFFERED', 'ASSIGNED', 'PICKED_UP', 'DELIVERED', 'FAILED', 'CANCELLED', 'EXPIRED'];

export const queries = {
  drivers: { ...page(UUID), status: { param: { type: 'enum', values: ['AVAILABLE', 'BUSY', 'OFFLINE'] } } } satisfies QuerySchema,
  nearby: {
    lat: { param: { type: 'number', min: -90, max: 90 }, required: true },
    lon: { param: { type: 'number', min: -180, max: 180 }, required: true },
    radiusKm: { param: { type: 'number', min: 0.01, max: 100 } },
    limit: { param: { type: 'int', min: 1, max: 50 } },
  } satisfies QuerySchema,
  deliveries: {
    ...page(UUID),
    sellerOrderId: { param: { type: 'string', max: 200 } },
    driverId: { param: { type: 'uuid' } },
    status: { param: { type: 'enum', values: DELIVERY_STATUSES } },
  } satisfies QuerySchema,
  driverDeliveries: { ...page(UUID), status: { param: { type: 'enum', values: DELIVERY_STATUSES } } } satisfies QuerySchema,
  messages: { ...page(MESSAGE_ID), status: { param: { type: 'enum', values: ['pending', 'delivered', 'failed'] } } } satisfies QuerySchema,
};
