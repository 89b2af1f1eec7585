import { haversineMeters } from './geo.js';

/**
 * What a point does: `moved` the driver, or was acknowledged and ignored
 * (still a heartbeat): `older` than the stored point, `accuracy` worse than
 * allowed, or a `speed` from the last accepted point no vehicle makes (a GPS
 * jump). RECORD_PINGS (availability.scripts.ts) makes the same decision in
 * Redis; this is the one used when Redis cannot.
 */
export type PointOutcome = 'moved' | 'older' | 'accuracy' | 'speed';

export interface FilterLimits {
  /** Metres; 0: no limit. */
  maxAccuracyMeters: number;
  /** km/h; 0: no limit. */
  maxSpeedKmh: number;
}

export interface StoredPoint {
  lat: number;
  lon: number;
  recordedAt: Date;
}

/** The accuracy filter alone: it needs no earlier point, so it runs before Redis is asked. */
export function tooInaccurate(accuracy: number | undefined, limits: FilterLimits): boolean {
  return limits.maxAccuracyMeters > 0 && accuracy !== undefined && accuracy > limits.maxAccuracyMeters;
}

export function judgePoint(point: StoredPoint & { accuracy?: number }, previous: StoredPoint | null, limits: FilterLimits): PointOutcome {
  if (tooInaccurate(point.accuracy, limits)) return 'accuracy';
  if (!previous) return 'moved';
  if (point.recordedAt < previous.recordedAt) return 'older';
  if (limits.maxSpeedKmh > 0) {
    const metres = haversineMeters(previous.lat, previous.lon, point.lat, point.lon);
    const seconds = (point.recordedAt.getTime() - previous.recordedAt.getTime()) / 1000;
    if (metres > 0 && (seconds <= 0 || (metres / seconds) * 3.6 > limits.maxSpeedKmh)) return 'speed';
  }
  return 'moved';
}
