import { DELIVERY_STATUSES, DeliveryStatus } from './delivery.entity.js';
import { EVENT_TYPES } from './delivery-state-machine.js';

export type DeliveryWebhookType = (typeof EVENT_TYPES)[DeliveryStatus];

/**
 * The body of every webhook sent to Vendure (the contract's "Webhooks"),
 * built by `record_delivery_change` in deliveries.sql in the transaction of
 * the change it reports.
 */
export interface DeliveryWebhookPayload {
  type: DeliveryWebhookType;
  /** When the change was recorded: ISO-8601 UTC, to the millisecond. */
  timestamp: string;
  data: DeliveryWebhookData;
}

export interface DeliveryWebhookData {
  deliveryId: string;
  sellerOrderId: string;
  channelId: string | null;
  /** null while the delivery waits for a driver (PENDING), and when it EXPIRED. */
  driverId: string | null;
  /** The delivery's status after the change. */
  status: DeliveryStatus;
  /** null while no driver holds the delivery. */
  distanceMeters: number | null;
  /** The same instant as `timestamp`. */
  occurredAt: string;
  /** 1 for the first driver, +1 each time the order went back to PENDING. */
  attempt: number;
  /** Why the change happened, when it has a reason (a decline, a timeout, a lost driver, a cancellation). */
  reason?: string;
  /** The x-request-id of the request that caused the change, when it had one. */
  requestId?: string;
  /**
   * On `delivery.assigned` and `delivery.picked_up` only: seconds from the
   * driver's position to the pickup, or to the drop-off once picked up
   * (EtaEstimator; null without a position or a drop-off). Added by the relay
   * before the first send and stored, so every attempt carries the same value.
   */
  etaSeconds?: number | null;
}

const ISO_UTC_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
type Check = { required: boolean; valid: (value: unknown) => boolean };
const string = (required = true): Check => ({ required, valid: (v) => typeof v === 'string' && v.length > 0 });
const matching = (pattern: RegExp): Check => ({ required: true, valid: (v) => typeof v === 'string' && pattern.test(v) });

/**
 * A check of each field of the payload. Typed by the interfaces above: a
 * field added to or removed from either without the other does not compile.
 */
const PAYLOAD_FIELDS: { [K in keyof DeliveryWebhookPayload]-?: Check } = {
  type: { required: true, valid: (v) => Object.values(EVENT_TYPES).includes(v as DeliveryWebhookType) },
  timestamp: matching(ISO_UTC_MS),
  data: { required: true, valid: (v) => typeof v === 'object' && v !== null && !Array.isArray(v) },
};
const DATA_FIELDS: { [K in keyof DeliveryWebhookData]-?: Check } = {
  deliveryId: matching(UUID),
  sellerOrderId: string(),
  channelId: { required: true, valid: (v) => v === null || (typeof v === 'string' && v.length > 0) },
  driverId: { required: true, valid: (v) => v === null || (typeof v === 'string' && UUID.test(v)) },
  status: { required: true, valid: (v) => DELIVERY_STATUSES.includes(v as DeliveryStatus) },
  distanceMeters: { required: true, valid: (v) => v === null || (typeof v === 'number' && Number.isFinite(v) && v >= 0) },
  occurredAt: matching(ISO_UTC_MS),
  attempt: { required: true, valid: (v) => Number.isInteger(v) && (v as number) >= 1 },
  reason: string(false),
  requestId: string(false),
  etaSeconds: { required: false, valid: (v) => v === null || (Number.isInteger(v) && (v as number) >= 0) },
};

function problemsOf(value: Record<string, unknown>, fields: Record<string, Check>, path: string): string[] {
  const problems = Object.keys(value)
    .filter((key) => !Object.hasOwn(fields, key))
    .map((key) => `${path}${key} is not a field of the payload`);
  for (const [key, check] of Object.entries(fields)) {
    if (!Object.hasOwn(value, key)) {
      if (check.required) problems.push(`${path}${key} is missing`);
    } else if (!check.valid(value[key])) problems.push(`${path}${key} is not valid: ${JSON.stringify(value[key])}`);
  }
  return problems;
}

/** How `payload` differs from a DeliveryWebhookPayload: [] when it is one. */
export function deliveryWebhookProblems(payload: unknown): string[] {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return ['the payload is not an object'];
  const body = payload as Record<string, unknown>;
  const problems = problemsOf(body, PAYLOAD_FIELDS, '');
  if (PAYLOAD_FIELDS.data.valid(body.data)) problems.push(...problemsOf(body.data as Record<string, unknown>, DATA_FIELDS, 'data.'));
  return problems;
}
