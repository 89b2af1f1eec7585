/** Mean earth radius (IUGG), metres. Distances reported by the API use it. */
export const EARTH_RADIUS_METERS = 6_371_008.8;

/** The hard cap of any search, whatever ASSIGNMENT_MAX_RADIUS_KM says. */
export const MAX_SEARCH_RADIUS_KM = 100;

export const toRadians = (degrees: number) => (degrees * Math.PI) / 180;

/** A longitude in [-180, 180). */
export const wrapLon = (lon: number) => ((((lon + 180) % 360) + 360) % 360) - 180;

/** Below this (about 0.1 mm), a coordinate is taken as 0. */
export const ZERO_DEGREES_BELOW = 1e-9;

/**
 * A coordinate as the service stores and searches it: within a nanodegree
 * of 0 it is 0. Subnormal numbers (5e-324) are valid input, but
 * earthdistance's ll_to_earth underflows on them and PostgreSQL refuses the
 * row; no GPS fix is that precise.
 */
export const storableDegrees = (degrees: number) => (Math.abs(degrees) < ZERO_DEGREES_BELOW ? 0 : degrees);

/** Distances leave the service to a tenth of a metre. */
export const roundMeters = (meters: number) => Math.round(meters * 10) / 10;

/** Great-circle distance in metres between two WGS84 points. */
export function haversineMeters(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const dLat = toRadians(lat2 - lat1);
  const dLon = toRadians(lon2 - lon1);
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(toRadians(lat1)) * Math.cos(toRadians(lat2)) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_METERS * Math.asin(Math.min(1, Math.sqrt(a)));
}

const STEPS_KM = [0.2, 0.5, 1, 2, 5, 10, 20, 50, 100];

/**
 * The radii a nearest search tries in turn: small first, so that its cost
 * follows the few nearest drivers rather than everyone inside a big circle.
 * Always ends with `maxKm` (capped at 100 km).
 */
export function searchRadiiKm(maxKm: number): number[] {
  const cap = Math.min(maxKm, MAX_SEARCH_RADIUS_KM);
  return [...STEPS_KM.filter((step) => step < cap), cap];
}

/**
 * Redis measures GEO distances on a sphere of 6,372,797.56 m, 0.03 % larger
 * than ours, so its circle is widened by this much to be sure it holds every
 * driver our own (haversine) radius check accepts.
 */
export function redisSearchRadiusKm(radiusKm: number): number {
  return radiusKm * 1.001 + 0.01;
}

/**
 * How far a driver may be from its indexed position (`indexed_lat`,
 * `indexed_lon`, which PostgreSQL's search index holds) before the position
 * follows: the trigger drivers_keep_indexed_position (src/fleet/fleet.sql)
 * applies the same 200 m.
 */
export const INDEXED_POSITION_LAG_METERS = 200;
