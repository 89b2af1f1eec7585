import { DATE_TIME, isRealDateTime, LOCATION_NUMBERS, MAX_BATCH_POINTS, MAX_CLOCK_SKEW_MS } from './dto/update-location.dto.js';
import type { LocationPing } from './availability.service.js';

/** One knot in metres per second: OsmAnd reports speed in knots, the service keeps m/s. */
export const METRES_PER_SECOND_PER_KNOT = 1852 / 3600;

/** What a Traccar Client or OsmAnd request says: whose token, and the points it carries. */
export interface OsmAndReport {
  token: string | undefined;
  points: LocationPing[];
}

export class OsmAndError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
  }
}

type Fields = Record<string, unknown>;

/**
 * Reads an OsmAnd request (query or form fields: `id`, `lat`, `lon`,
 * `timestamp`, `speed` in knots, `bearing`, `accuracy`, `altitude`, `batt`)
 * or a Traccar Client 9+ JSON body (`{device_id, location: {timestamp,
 * coords: {latitude, longitude, accuracy, speed (m/s), heading, altitude}}}`,
 * `location` also as an array). Fields the service does not keep (altitude,
 * battery, and any other the apps add) are accepted and dropped, as Traccar
 * does. Throws OsmAndError naming every bad field.
 */
export function readOsmAnd(query: Fields, body: unknown, now = Date.now()): OsmAndReport {
  if (isObject(body) && 'location' in body) return readTraccarJson(body, now);
  const fields = Object.keys(query).length > 0 ? query : isObject(body) ? body : {};
  const token = single(fields.id) ?? single(fields.deviceid);
  const problems: string[] = [];
  const read = numbers(problems);
  const point = {
    lat: read(fields.lat, 'lat', 'lat', true),
    lon: read(fields.lon, 'lon', 'lon', true),
    accuracy: read(fields.accuracy, 'accuracy', 'accuracy'),
    heading: read(fields.bearing, 'bearing', 'heading') ?? read(fields.heading, 'heading', 'heading'),
    speed: knots(read(fields.speed, 'speed', 'speed', false, MAX_KNOTS)),
    recordedAt: timestamp(single(fields.timestamp), problems, now),
  };
  if (problems.length > 0) throw new OsmAndError(problems);
  return { token, points: [compact(point)] };
}

function readTraccarJson(body: Fields, now: number): OsmAndReport {
  const token = typeof body.device_id === 'string' ? body.device_id : undefined;
  const locations = Array.isArray(body.location) ? body.location : [body.location];
  const problems: string[] = [];
  if (locations.length === 0 || locations.length > MAX_BATCH_POINTS) problems.push(`location must hold 1 to ${MAX_BATCH_POINTS} points`);
  const points = locations.map((location, i) => {
    const at = locations.length > 1 ? `location.${i}` : 'location';
    if (!isObject(location) || !isObject(location.coords)) {
      problems.push(`${at}.coords must be an object`);
      return null;
    }
    const coords = location.coords;
    // The apps report -1 for a speed or heading they do not know.
    const known = (value: unknown) => (typeof value === 'number' && value < 0 ? undefined : value);
    const read = numbers(problems, `${at}.coords.`);
    const point = {
      lat: read(coords.latitude, 'latitude', 'lat', true),
      lon: read(coords.longitude, 'longitude', 'lon', true),
      accuracy: read(coords.accuracy, 'accuracy', 'accuracy'),
      heading: read(known(coords.heading), 'heading', 'heading'),
      speed: read(known(coords.speed), 'speed', 'speed'),
      recordedAt: timestamp(location.timestamp, problems, now, `${at}.timestamp`),
    };
    return compact(point);
  });
  if (problems.length > 0) throw new OsmAndError(problems);
  return { token, points: points as LocationPing[] };
}

function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A repeated query field counts once, as its first value (Traccar reads each in turn; the last would win there). */
function single(value: unknown): string | undefined {
  const first: unknown = Array.isArray(value) ? value[0] : value;
  return typeof first === 'string' ? first : typeof first === 'number' ? String(first) : undefined;
}

/** The most knots a point may report: the 150 m/s a location update allows. */
const MAX_KNOTS = LOCATION_NUMBERS.speed.maximum / METRES_PER_SECOND_PER_KNOT;

/**
 * A reader of number fields by the ranges of a location update (`rule`, see
 * LOCATION_NUMBERS), noting problems under `prefix` + the field's name. Query
 * and form values arrive as text, JSON values as numbers.
 */
function numbers(problems: string[], prefix = '') {
  return (raw: unknown, name: string, rule: keyof typeof LOCATION_NUMBERS, required = false, max?: number): number | undefined => {
    if (raw === undefined || raw === '') {
      if (required) problems.push(`${prefix}${name} is required`);
      return undefined;
    }
    const text = typeof raw === 'number' ? raw : single(raw);
    const value =
      typeof text === 'number' ? text : text !== undefined && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(text.trim()) ? Number(text) : NaN;
    const { minimum, maximum } = LOCATION_NUMBERS[rule];
    const top = max ?? maximum;
    if (!Number.isFinite(value)) problems.push(`${prefix}${name} must be a number`);
    else if (value < minimum || value > top) problems.push(`${prefix}${name} must be from ${minimum} to ${Number(top.toFixed(2))}`);
    else return value;
    return undefined;
  };
}

const knots = (value: number | undefined) => (value === undefined ? undefined : value * METRES_PER_SECOND_PER_KNOT);

/** Unix seconds or milliseconds, an ISO-8601 date-time, or "yyyy-MM-dd HH:mm:ss" (UTC), as Traccar reads them. */
function timestamp(raw: unknown, problems: string[], now: number, name = 'timestamp'): Date | undefined {
  if (raw === undefined || raw === '') return undefined;
  let at: number = NaN;
  if (typeof raw === 'number' || (typeof raw === 'string' && /^\d{1,16}$/.test(raw))) {
    const n = Number(raw);
    at = n < 2 ** 31 ? n * 1000 : n;
  } else if (typeof raw === 'string' && DATE_TIME.test(raw) && isRealDateTime(raw)) {
    at = Date.parse(raw);
  } else if (typeof raw === 'string' && /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(raw) && isRealDateTime(`${raw.replace(' ', 'T')}Z`)) {
    at = Date.parse(`${raw.replace(' ', 'T')}Z`);
  }
  if (!Number.isFinite(at) || at < Date.UTC(2000, 0, 1)) problems.push(`${name} must be unix seconds or milliseconds, or a date-time`);
  else if (at > now + MAX_CLOCK_SKEW_MS) problems.push(`${name} must not be more than 5 minutes in the future`);
  else return new Date(at);
  return undefined;
}

function compact(point: Record<string, number | Date | undefined>): LocationPing {
  return Object.fromEntries(Object.entries(point).filter(([, value]) => value !== undefined)) as unknown as LocationPing;
}
