import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsISO8601, IsNumber, IsOptional, Max, Min, ValidateBy } from 'class-validator';

const finite = { allowNaN: false, allowInfinity: false };
/** Phones' clocks drift; a point more than this far in the future is refused. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

const NotFarInFuture = () =>
  ValidateBy({
    name: 'notFarInFuture',
    validator: {
      validate: (value: unknown) => typeof value === 'string' && Date.parse(value) <= Date.now() + MAX_CLOCK_SKEW_MS,
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
  @IsOptional()
  @IsISO8601({ strict: true, strictSeparator: true }, { message: 'recordedAt must be an ISO-8601 date-time' })
  @NotFarInFuture()
  recordedAt?: string;
}

export class LocationAcceptedDto {
  @ApiProperty({ enum: ['AVAILABLE', 'BUSY', 'OFFLINE'] }) status!: string;
  @ApiProperty({ enum: [true] }) online!: true;
}
