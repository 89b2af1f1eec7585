import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString } from 'class-validator';
import { MaxChars } from '../../common/max-chars.decorator.js';

/** The body of a decline or a reassignment: why, for the audit trail and the webhook. */
export class AnswerReasonDto {
  @ApiPropertyOptional({ maxLength: 500, example: 'Too far' })
  @IsOptional()
  @IsString()
  @MaxChars(500)
  reason?: string;
}
