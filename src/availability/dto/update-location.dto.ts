import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, OmitType } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsDefined,
  IsNumber,
  IsObject,
  IsOptional,
  Matches,
  Max,
  Min,
  ValidateBy,
  ValidateNested,
} from 'class-validator';
import { Omittable } from '../../common/omittable.decorator.js';

const finite = { allowNaN: false, allowInfinity: false };
/** Phones' clocks drift; a point more than this far in the future is refused. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** A full date-time with an explicit offset: a bare date or a local time would be read ambiguously. */
export const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-](\d{2}):(\d{2}))$/;

/** A calendar date and clock time that exist, from 2000 on (Date.parse would roll 30 February over into March). */
export function isRealDateTime(value: unknown): boolean {
  const match = typeof value === 'string' ? DATE_TIME.exec(value) : null;
  if (!match) return false;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number);
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const offsetOk = match[8] === 'Z' || (Number(match[9]) <= 14 && Number(match[10]) < 60);
  return year >= 2000 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth && hour < 24 && minute < 60 && second < 60 && offsetOk;
}

const isFarInFuture = (value: string, now: number) => Date.parse(value) > now + MAX_CLOCK_SKEW_MS;

/**
 * The body's rules, in one place: the number fields and their ranges, and
 * what makes a `recordedAt`. UpdateLocationDto's decorators (validation and
 * OpenAPI) are made from them, and so is `isPlainValidLocation`, the quick
 * check the location route passes ordinary bodies with.
 */
export const LOCATION_NUMBERS = {
  lat: { minimum: -90, maximum: 90, required: true, example: 52.52 },
  lon: { minimum: -180, maximum: 180, required: true, example: 13.405 },
  accuracy: { minimum: 0, maximum: 100_000, required: false, description: 'Horizontal accuracy, metres' },
  heading: { minimum: 0, maximum: 360, required: false, description: 'Degrees clockwise from north' },
  speed: { minimum: 0, maximum: 150, required: false, description: 'Metres per second' },
} as const;

type NumberField = keyof typeof LOCATION_NUMBERS;

const inRange = (value: unknown, { minimum, maximum }: (typeof LOCATION_NUMBERS)[NumberField]) =>
  typeof value === 'number' && Number.isFinite(value) && value >= minimum && value <= maximum;

/** A recordedAt the DTO accepts: a real ISO-8601 date-time with an offset, not over 5 minutes ahead. */
const isRecordedAt = (value: unknown, now: number) =>
  typeof value === 'string' && DATE_TIME.test(value) && isRealDateTime(value) && !isFarInFuture(value, now);

/**
 * True only for a body UpdateLocationDto accepts, and cheaply: the number
 * fields in range, an acceptable recordedAt, nothing else (null and
 * inherited names included). Anything else goes through the validation
 * pipe, which names every problem; location-body.spec.ts checks that this
 * accepts nothing the DTO refuses.
 */
export function isPlainValidLocation(body: unknown, now = Date.now()): body is UpdateLocationDto {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  const fields = body as Record<string, unknown>;
  if (!inRange(fields.lat, LOCATION_NUMBERS.lat) || !inRange(fields.lon, LOCATION_NUMBERS.lon)) return false;
  for (const key of Object.keys(fields)) {
    if (key === 'recordedAt') {
      if (!isRecordedAt(fields.recordedAt, now)) return false;
    } else if (!Object.hasOwn(LOCATION_NUMBERS, key) || !inRange(fields[key], LOCATION_NUMBERS[key as NumberField])) return false;
  }
  return true;
}

/** A number field of the body, validated and documented from LOCATION_NUMBERS. */
function LocationNumber(field: NumberField) {
  const { required, ...docs } = LOCATION_NUMBERS[field];
  // Applied in the order stacked decorators would be (bottom first), so messages come in the same order.
  return applyDecorators(
    Max(docs.maximum),
    Min(docs.minimum),
    IsNumber(finite),
    ...(required ? [] : [IsOptional()]),
    required ? ApiProperty(docs) : ApiPropertyOptional(docs),
  );
}

const NotFarInFuture = () =>
  ValidateBy({
    name: 'notFarInFuture',
    validator: {
      validate: (value: unknown) => typeof value !== 'string' || !isFarInFuture(value, Date.now()),
      defaultMessage: () => 'recordedAt must not be more than 5 minutes in the future',
    },
  });

/** `recordedAt`'s rules; required in a batch, where the order of the points rests on it. */
function RecordedAt(required: boolean) {
  const when = 'When the phone took the point';
  return applyDecorators(
    NotFarInFuture(),
    ValidateBy({
      name: 'realDateTime',
      validator: { validate: isRealDateTime, defaultMessage: () => 'recordedAt is not a real date and time' },
    }),
    Matches(DATE_TIME, { message: 'recordedAt must be an ISO-8601 date-time with an offset, such as 2026-01-01T12:00:00Z' }),
    ...(required
      ? [IsDefined(), ApiProperty({ format: 'date-time', description: `${when}.` })]
      : [
          Omittable(),
          ApiPropertyOptional({
            format: 'date-time',
            description: `${when} (default: now). A point older than the last stored one is acknowledged and ignored.`,
          }),
        ]),
  );
}

export class UpdateLocationDto {
  @LocationNumber('lat') lat!: number;
  @LocationNumber('lon') lon!: number;
  @LocationNumber('accuracy') accuracy?: number;
  @LocationNumber('heading') heading?: number;
  @LocationNumber('speed') speed?: number;
  @RecordedAt(false) recordedAt?: string;
}

/** A point of a batch: as a single update, with `recordedAt` required. */
export class LocationPointDto extends OmitType(UpdateLocationDto, ['recordedAt'] as const) {
  @RecordedAt(true) recordedAt!: string;
}

/** The most points one batch may carry. */
export const MAX_BATCH_POINTS = 100;

/** True only for a batch LocationBatchDto accepts: 1–100 points, each as the quick check of a single update passes it, with recordedAt. */
export function isPlainValidBatch(body: unknown, now = Date.now()): body is LocationBatchDto {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  const keys = Object.keys(body);
  const points = (body as { points?: unknown }).points;
  if (keys.length !== 1 || keys[0] !== 'points' || !Array.isArray(points)) return false;
  if (points.length < 1 || points.length > MAX_BATCH_POINTS) return false;
  return points.every((point) => isPlainValidLocation(point, now) && typeof (point as { recordedAt?: unknown }).recordedAt === 'string');
}

export class LocationBatchDto {
  /** The validation pipe's cheap path (see StrictValidationPipe); location-body.spec.ts checks it against the decorators. */
  static isPlainValid = (body: unknown) => isPlainValidBatch(body);

  @ApiProperty({
    type: [LocationPointDto],
    minItems: 1,
    maxItems: MAX_BATCH_POINTS,
    description: 'In any order: they are sorted by recordedAt',
  })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_BATCH_POINTS)
  // Each an object: class-transformer would turn a nested array into an array of points, which ValidateNested lets by.
  @IsObject({ each: true })
  @ValidateNested({ each: true })
  @Type(() => LocationPointDto)
  points!: LocationPointDto[];
}

export class LocationBatchAcceptedDto {
  @ApiProperty({ description: 'Points that moved the driver along its track (the newest of them is where it is now)' }) accepted!: number;
  @ApiProperty({ description: 'Points acknowledged but ignored: older than the stored point, too inaccurate, or a GPS jump' })
  ignored!: number;
  @ApiProperty({ enum: ['AVAILABLE', 'BUSY', 'OFFLINE'] }) status!: string;
  @ApiProperty({ enum: [true] }) online!: true;
}

export class LocationAcceptedDto {
  @ApiProperty({ enum: ['AVAILABLE', 'BUSY', 'OFFLINE'] }) status!: string;
  @ApiProperty({ enum: [true] }) online!: true;
}
