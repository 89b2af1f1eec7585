import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsNotEmpty, IsOptional, IsString, Matches } from 'class-validator';
import { Omittable } from '../../common/omittable.decorator.js';
import { E164, trim } from './create-driver.dto.js';
import { MaxChars } from '../../common/max-chars.decorator.js';

export class UpdateDriverDto {
  @ApiPropertyOptional({ maxLength: 200 })
  @Omittable()
  @Transform(trim)
  @IsString()
  @IsNotEmpty()
  @MaxChars(200)
  name?: string;

  @ApiPropertyOptional({ example: '+4915112345678', description: 'E.164 phone number, unique among drivers' })
  @Omittable()
  @IsString()
  @Matches(E164, { message: 'phone must be an E.164 number such as +4915112345678' })
  phone?: string;

  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 50, description: 'null clears it' })
  @IsOptional()
  @Transform(trim)
  @IsString()
  @IsNotEmpty()
  @MaxChars(50)
  vehicleType?: string | null;

  @ApiPropertyOptional({ description: 'false takes the driver out of every search at once; its token is refused until it is active again' })
  @Omittable()
  @IsBoolean()
  isActive?: boolean;
}
