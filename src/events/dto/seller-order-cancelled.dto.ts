import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsNotEmpty, IsOptional, IsString, MaxLength } from 'class-validator';

export class SellerOrderCancelledDto {
  @ApiProperty({ example: 'SO-1001', maxLength: 200 })
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  sellerOrderId!: string;

  @ApiPropertyOptional({ maxLength: 500 })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  reason?: string;
}

export class SellerOrderCancelledAnswerDto {
  @ApiProperty({ enum: [true] }) cancelled!: true;
  @ApiProperty({ format: 'uuid' }) deliveryId!: string;
}
