import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsNotEmpty, IsOptional, IsString, Matches } from 'class-validator';
import { MaxChars } from '../../common/max-chars.decorator.js';

export const trim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);

export const E164 = /^\+[1-9]\d{6,14}$/;

export class CreateDriverDto {
  @ApiProperty({ example: 'Ada Lovelace', maxLength: 200 })
  @Transform(trim)
  @IsString()
  @IsNotEmpty()
  @MaxChars(200)
  name!: string;

  @ApiProperty({ example: '+4915112345678', description: 'E.164 phone number, unique among drivers' })
  @IsString()
  @Matches(E164, { message: 'phone must be an E.164 number such as +4915112345678' })
  phone!: string;

  @ApiPropertyOptional({ example: 'bicycle', maxLength: 50 })
  @IsOptional()
  @Transform(trim)
  @IsString()
  @IsNotEmpty()
  @MaxChars(50)
  vehicleType?: string;
}
