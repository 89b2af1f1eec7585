import { CreateDrivers1763700000000 } from './1763700000000-create-drivers.js';
import { CreateWebhookReceipts1763700100000 } from './1763700100000-create-webhook-receipts.js';
import { DriverAvailability1763700200000 } from './1763700200000-driver-availability.js';
import { CreateDeliveries1763700300000 } from './1763700300000-create-deliveries.js';
import { CreateWebhookMessages1763700400000 } from './1763700400000-create-webhook-messages.js';
import { DeliveryFunctions1763700500000 } from './1763700500000-delivery-functions.js';
import { BatchedClaims1763700600000 } from './1763700600000-batched-claims.js';
import { SqlRoutines1763700700000 } from './1763700700000-sql-routines.js';
import { Dispatch1763700800000 } from './1763700800000-dispatch.js';
import { LocationQuality1763700900000 } from './1763700900000-location-quality.js';
import { ReceiptTargets1763701000000 } from './1763701000000-receipt-targets.js';
import { TrackingLinks1763701100000 } from './1763701100000-tracking-links.js';
import { IndexedPosition1763701200000 } from './1763701200000-indexed-position.js';

/**
 * Every migration, oldest first: schema changes only (functions are SQL
 * routines, see src/database/sql-routines.ts). A migration is never edited
 * once it has landed, except to empty one whose routines moved to a routine file,
 * or to make one safe for a database that has not run it yet (a change that
 * leaves the schema it ends with as it was).
 */
export const MIGRATIONS = [
  CreateDrivers1763700000000,
  CreateWebhookReceipts1763700100000,
  DriverAvailability1763700200000,
  CreateDeliveries1763700300000,
  CreateWebhookMessages1763700400000,
  DeliveryFunctions1763700500000,
  BatchedClaims1763700600000,
  SqlRoutines1763700700000,
  Dispatch1763700800000,
  LocationQuality1763700900000,
  ReceiptTargets1763701000000,
  TrackingLinks1763701100000,
  IndexedPosition1763701200000,
];
