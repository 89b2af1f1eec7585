import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsNumber, IsOptional, Matches, Max, Min, ValidateBy } from 'class-validator';
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

const NotFarInFuture = () =>
  ValidateBy({
    name: 'notFarInFuture',
    validator: {
      validate: (value: unknown) => typeof value !== 'string' || !(Date.parse(value) > Date.now() + MAX_CLOCK_SKEW_MS),
      defaultMessage: () => 'recordedAt must not be more than 5 minutes in the future',
    },
  });

export class UpdateLocationDto {
  @ApiProperty({ minimum: -90, maximum: 90, example: 52.52 })
  @IsNumber(finite)
  @Min(-90)
  @Max(90)
  lat!: number;

  @ApiProperty({ minimum: -180, maximum: 180, example: 13.405 })
  @IsNumber(finite)
  @Min(-180)
  @Max(180)
  lon!: number;

  @ApiPropertyOptional({ description: 'Horizontal accuracy, metres', minimum: 0, maximum: 100_000 })
  @IsOptional()
  @IsNumber(finite)
  @Min(0)
  @Max(100_000)
  accuracy?: number;

  @ApiPropertyOptional({ description: 'Degrees clockwise from north', minimum: 0, maximum: 360 })
  @IsOptional()
  @IsNumber(finite)
  @Min(0)
  @Max(360)
  heading?: number;

  @ApiPropertyOptional({ description: 'Metres per second', minimum: 0, maximum: 150 })
  @IsOptional()
  @IsNumber(finite)
  @Min(0)
  @Max(150)
  speed?: number;

  @ApiPropertyOptional({
    format: 'date-time',
    description: 'When the phone took the point (default: now). A point older than the last stored one is acknowledged and ignored.',
  })
  @Omittable()
  @Matches(DATE_TIME, { message: 'recordedAt must be an ISO-8601 date-time with an offset, such as 2026-01-01T12:00:00Z' })
  @ValidateBy({ name: 'realDateTime', validator: { validate: isRealDateTime, defaultMessage: () => 'recordedAt is not a real date and time' } })
  @NotFarInFuture()
  recordedAt?: string;
}

export class LocationAcceptedDto {
  @ApiProperty({ enum: ['AVAILABLE', 'BUSY', 'OFFLINE'] }) status!: string;
  @ApiProperty({ enum: [true] }) online!: true;
}
