import { DATE_TIME, isRealDateTime, LOCATION_NUMBERS, MAX_CLOCK_SKEW_MS } from './dto/update-location.dto.js';
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
  const point = {
    lat: number(fields, 'lat', problems, true),
    lon: number(fields, 'lon', problems, true),
    accuracy: number(fields, 'accuracy', problems),
    heading: number(fields, 'bearing', problems, false, 'heading') ?? number(fields, 'heading', problems),
    speed: knots(number(fields, 'speed', problems, false, 'speed', 150 / METRES_PER_SECOND_PER_KNOT)),
    recordedAt: timestamp(single(fields.timestamp), problems, now),
  };
  if (problems.length > 0) throw new OsmAndError(problems);
  return { token, points: [compact(point)] };
}

function readTraccarJson(body: Fields, now: number): OsmAndReport {
  const token = typeof body.device_id === 'string' ? body.device_id : undefined;
  const locations = Array.isArray(body.location) ? body.location : [body.location];
  const problems: string[] = [];
  if (locations.length === 0 || locations.length > 100) problems.push('location must hold 1 to 100 points');
  const points = locations.map((location, i) => {
    const at = locations.length > 1 ? `location.${i}` : 'location';
    if (!isObject(location) || !isObject(location.coords)) {
      problems.push(`${at}.coords must be an object`);
      return null;
    }
    const coords = location.coords;
    // The apps report -1 for a speed or heading they do not know.
    const known = (key: string) => (typeof coords[key] === 'number' && coords[key] < 0 ? undefined : coords[key]);
    const fields = { latitude: coords.latitude, longitude: coords.longitude, accuracy: coords.accuracy, heading: known('heading'), speed: known('speed') };
    const point = {
      lat: number(fields, 'latitude', problems, true, 'lat', undefined, `${at}.coords.latitude`),
      lon: number(fields, 'longitude', problems, true, 'lon', undefined, `${at}.coords.longitude`),
      accuracy: number(fields, 'accuracy', problems, false, 'accuracy', undefined, `${at}.coords.accuracy`),
      heading: number(fields, 'heading', problems, false, 'heading', undefined, `${at}.coords.heading`),
      speed: number(fields, 'speed', problems, false, 'speed', undefined, `${at}.coords.speed`),
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
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === 'string' ? first : typeof first === 'number' ? String(first) : undefined;
}

/**
 * A number field, by the ranges of a location update (`rule`, see LOCATION_NUMBERS);
 * query and form values arrive as text, JSON values as numbers.
 */
function number(
  fields: Fields,
  key: string,
  problems: string[],
  required = false,
  rule: keyof typeof LOCATION_NUMBERS = key as keyof typeof LOCATION_NUMBERS,
  max?: number,
  name = key,
): number | undefined {
  const raw = fields[key];
  if (raw === undefined || raw === '') {
    if (required) problems.push(`${name} is required`);
    return undefined;
  }
  const text = typeof raw === 'number' ? raw : single(raw);
  const value = typeof text === 'number' ? text : text !== undefined && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(text.trim()) ? Number(text) : NaN;
  const { minimum, maximum } = LOCATION_NUMBERS[rule];
  const top = max ?? maximum;
  if (!Number.isFinite(value)) problems.push(`${name} must be a number`);
  else if (value < minimum || value > top) problems.push(`${name} must be from ${minimum} to ${Number(top.toFixed(2))}`);
  else return value;
  return undefined;
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
