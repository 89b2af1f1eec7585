import { Injectable } from '@nestjs/common';
import { haversineMeters } from '../availability/geo.js';
import { AppConfig } from '../config/app-config.js';

export interface LatLon {
  lat: number;
  lon: number;
}

/** A trip an ETA is asked for: from the driver's position to where it goes next. */
export interface EtaTrip {
  from: LatLon;
  to: LatLon;
  vehicleType: string | null;
}

/**
 * How long a trip takes, in whole seconds, or null when it cannot be told.
 * The one seam for ETAs: tracking answers and the `delivery.assigned` and
 * `delivery.picked_up` webhooks ask it and nothing else, so a routing engine
 * (OSRM, Valhalla, a vendor's API) can stand in for the straight line by
 * providing another implementation under this class's token.
 */
export abstract class EtaEstimator {
  abstract etaSeconds(trips: readonly EtaTrip[]): Promise<Array<number | null>>;
}

/**
 * The straight-line ETA: great-circle distance at the vehicle type's speed
 * (ETA_SPEEDS_KMH, matched in lower case; `default` for any other), rounded up.
 */
@Injectable()
export class StraightLineEta extends EtaEstimator {
  constructor(private readonly config: AppConfig) {
    super();
  }

  speedKmh(vehicleType: string | null): number {
    const speeds = this.config.etaSpeedsKmh;
    return speeds[vehicleType?.trim().toLowerCase() ?? ''] ?? speeds.default;
  }

  etaSeconds(trips: readonly EtaTrip[]): Promise<Array<number | null>> {
    return Promise.resolve(
      trips.map(({ from, to, vehicleType }) => {
        const meters = haversineMeters(from.lat, from.lon, to.lat, to.lon);
        return Math.ceil(meters / ((this.speedKmh(vehicleType) * 1000) / 3600));
      }),
    );
  }
}

/** A point from two nullable columns: null unless both are known. */
export const pointOf = (lat: number | null, lon: number | null): LatLon | null => (lat === null || lon === null ? null : { lat, lon });

/**
 * The trip a delivery's driver is on: from its position to etaDestination;
 * null when either end is unknown.
 */
export function nextTrip(
  status: string,
  from: LatLon | null,
  pickup: LatLon,
  dropoff: LatLon | null,
  vehicleType: string | null,
): EtaTrip | null {
  const to = etaDestination(status, pickup, dropoff);
  return from && to ? { from: { lat: from.lat, lon: from.lon }, to, vehicleType } : null;
}

/** The ETA of each trip, null where there is none; throws as `estimated` does. */
export async function etasOf(estimator: EtaEstimator, trips: ReadonlyArray<EtaTrip | null>): Promise<Array<number | null>> {
  const asked = trips.filter((trip) => trip !== null);
  const answers = asked.length > 0 ? await estimated(estimator, asked) : [];
  let next = 0;
  return trips.map((trip) => (trip ? answers[next++] : null));
}

/**
 * Where a delivery's driver goes next: the pickup while ASSIGNED, the
 * drop-off while PICKED_UP; null in any other status, or without a drop-off.
 */
export function etaDestination(status: string, pickup: LatLon, dropoff: LatLon | null): LatLon | null {
  if (status === 'ASSIGNED') return pickup;
  if (status === 'PICKED_UP') return dropoff;
  return null;
}

/** How long an estimator may take before its trips count as unknown. */
export const ETA_TIMEOUT_MS = 2_000;
const MAX_SECONDS = 2_147_483_647;

/**
 * The estimator's answers, each a whole number of seconds (rounded, 0 to
 * 2^31 - 1) or null where it is not a finite number. Throws if the estimator
 * fails, answers the wrong number of values, or takes longer than ETA_TIMEOUT_MS.
 */
async function estimated(estimator: EtaEstimator, trips: readonly EtaTrip[]): Promise<Array<number | null>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the ETA estimator took longer than ${ETA_TIMEOUT_MS} ms`)), ETA_TIMEOUT_MS);
  });
  try {
    const answers = await Promise.race([estimator.etaSeconds(trips), timeout]);
    if (answers.length !== trips.length) throw new Error(`the ETA estimator answered ${answers.length} values for ${trips.length} trips`);
    return answers.map((value) =>
      typeof value === 'number' && Number.isFinite(value) ? Math.min(MAX_SECONDS, Math.max(0, Math.round(value))) : null,
    );
  } finally {
    clearTimeout(timer);
  }
}
