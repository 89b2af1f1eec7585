import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsNotEmpty, IsOptional, IsString } from 'class-validator';
import { MaxChars } from '../../common/max-chars.decorator.js';

export class SellerOrderCancelledDto {
  @ApiProperty({ example: 'SO-1001', maxLength: 200 })
  @IsString()
  @IsNotEmpty()
  @MaxChars(200)
  sellerOrderId!: string;

  @ApiPropertyOptional({ maxLength: 500 })
  @IsOptional()
  @IsString()
  @MaxChars(500)
  reason?: string;
}

export class SellerOrderCancelledAnswerDto {
  @ApiProperty({ enum: [true] }) cancelled!: true;
  @ApiProperty({ format: 'uuid' }) deliveryId!: string;
}
