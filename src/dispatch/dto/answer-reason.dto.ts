import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, IsUUID } from 'class-validator';
import { MaxChars } from '../../common/max-chars.decorator.js';

const DRIVER_ID_DESCRIPTION =
  'The driver answering, for the driver app backend and operators: the answer is refused (403) unless that driver holds the ' +
  'delivery, so a late answer for an offer that moved on to another driver changes nothing. A driver token may only name itself.';

/** The body of an accept: whose answer it is, when the caller is not the driver itself. */
export class AcceptOfferDto {
  @ApiPropertyOptional({ format: 'uuid', description: DRIVER_ID_DESCRIPTION })
  @IsOptional()
  @IsUUID()
  driverId?: string;
}

/** The body of a decline: whose answer it is, and why, for the audit trail and the webhook. */
export class DeclineOfferDto extends AcceptOfferDto {
  @ApiPropertyOptional({ maxLength: 500, example: 'Too far' })
  @IsOptional()
  @IsString()
  @MaxChars(500)
  reason?: string;
}

/** The body of a reassignment: why. */
export class AnswerReasonDto {
  @ApiPropertyOptional({ maxLength: 500, example: 'Vehicle broke down' })
  @IsOptional()
  @IsString()
  @MaxChars(500)
  reason?: string;
}
