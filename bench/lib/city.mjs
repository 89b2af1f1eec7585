// @ts-check
/** Cities, points and distances, as the service measures them (WGS84, haversine). */

/** @typedef {{ lat: number, lon: number }} Point */

const EARTH_RADIUS_METERS = 6_371_008.8;
const METERS_PER_DEGREE_LAT = 111_195;
const toRadians = (/** @type {number} */ degrees) => (degrees * Math.PI) / 180;

/**
 * Great-circle distance in metres.
 * @param {Point} a
 * @param {Point} b
 */
export function haversineMeters(a, b) {
  const dLat = toRadians(b.lat - a.lat);
  const dLon = toRadians(b.lon - a.lon);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(toRadians(a.lat)) * Math.cos(toRadians(b.lat)) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_METERS * Math.asin(Math.min(1, Math.sqrt(h)));
}

/**
 * The point `fraction` (0..1) of the way from `a` to `b` (straight in degrees: fine over a city).
 * @param {Point} a
 * @param {Point} b
 * @param {number} fraction
 * @returns {Point}
 */
export function between(a, b, fraction) {
  const f = Math.min(1, Math.max(0, fraction));
  return { lat: a.lat + (b.lat - a.lat) * f, lon: a.lon + (b.lon - a.lon) * f };
}

/** A square city of `sizeKm` around a centre. */
export class City {
  /**
   * @param {string} name
   * @param {Point} centre
   * @param {number} sizeKm
   */
  constructor(name, centre, sizeKm) {
    this.name = name;
    this.centre = centre;
    this.sizeKm = sizeKm;
    this.dLat = (sizeKm * 1000) / METERS_PER_DEGREE_LAT;
    this.dLon = this.dLat / Math.cos(toRadians(centre.lat));
  }

  /** A uniformly random point in the city (6 decimals, about 10 cm). @returns {Point} */
  randomPoint(random = Math.random) {
    return {
      lat: round6(this.centre.lat + this.dLat * (random() - 0.5)),
      lon: round6(this.centre.lon + this.dLon * (random() - 0.5)),
    };
  }

  /**
   * A random point within `meters` of `point`, kept inside the city.
   * @param {Point} point
   * @param {number} meters
   * @returns {Point}
   */
  near(point, meters, random = Math.random) {
    const dLat = ((random() * 2 - 1) * meters) / METERS_PER_DEGREE_LAT;
    const dLon = ((random() * 2 - 1) * meters) / (METERS_PER_DEGREE_LAT * Math.cos(toRadians(point.lat)));
    return {
      lat: round6(clamp(point.lat + dLat, this.centre.lat - this.dLat / 2, this.centre.lat + this.dLat / 2)),
      lon: round6(clamp(point.lon + dLon, this.centre.lon - this.dLon / 2, this.centre.lon + this.dLon / 2)),
    };
  }
}

/**
 * A car of a fleet on the move: 40 % parked (a few metres of GPS noise), the
 * rest driving at 5-14 m/s on a heading.
 * @param {Point} at
 * @returns {{ lat: number, lon: number, heading: number, speed: number }}
 */
export const newCar = (at) => ({ ...at, heading: Math.random() * 2 * Math.PI, speed: Math.random() < 0.4 ? 0 : 5 + Math.random() * 9 });

/**
 * Moves `car` on by `seconds` of driving inside `city` (turning round at its edge); returns where it is.
 * @param {City} city
 * @param {ReturnType<typeof newCar>} car
 * @param {number} seconds
 * @returns {Point}
 */
export function driveOn(city, car, seconds) {
  const step = car.speed === 0 ? 5 * Math.random() : car.speed * seconds;
  const heading = car.speed === 0 ? Math.random() * 2 * Math.PI : car.heading;
  const wanted = {
    lat: car.lat + (step * Math.cos(heading)) / METERS_PER_DEGREE_LAT,
    lon: car.lon + (step * Math.sin(heading)) / (METERS_PER_DEGREE_LAT * Math.cos(toRadians(car.lat))),
  };
  const next = city.near(wanted, 0);
  if (Math.abs(next.lat - wanted.lat) + Math.abs(next.lon - wanted.lon) > 1e-5) car.heading += Math.PI;
  car.lat = next.lat;
  car.lon = next.lon;
  return next;
}

const round6 = (/** @type {number} */ x) => Math.round(x * 1e6) / 1e6;
const clamp = (/** @type {number} */ x, /** @type {number} */ lo, /** @type {number} */ hi) => Math.min(hi, Math.max(lo, x));

/** The dense city of the benchmark (100k drivers) and of the simulator. */
export const BERLIN = new City('Berlin', { lat: 52.52, lon: 13.405 }, 30);
/** A second city, 250 km away (beyond the 100 km search cap), for the 1k-driver baseline. */
export const HAMBURG = new City('Hamburg', { lat: 53.55, lon: 9.993 }, 30);

/** Where the direct-PostgreSQL assignment baseline claims its drivers: 500 km from Berlin, so never in the service's way. */
export const MUNICH = new City('Munich', { lat: 48.137, lon: 11.575 }, 30);

/** The cities by name, for specs passed between processes. */
export const CITIES = { [BERLIN.name]: BERLIN, [HAMBURG.name]: HAMBURG, [MUNICH.name]: MUNICH };
