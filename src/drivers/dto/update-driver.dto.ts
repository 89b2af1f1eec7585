import { ApiPropertyOptional, PartialType } from '@nestjs/swagger';
import { IsBoolean, IsOptional } from 'class-validator';
import { CreateDriverDto } from './create-driver.dto.js';

export class UpdateDriverDto extends PartialType(CreateDriverDto) {
  @ApiPropertyOptional({ description: 'false takes the driver out of every search at once and revokes its token' })
  @IsOptional()
  @IsBoolean()
  isActive?: boolean;
}
