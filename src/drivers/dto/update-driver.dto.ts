import { ApiPropertyOptional, PartialType } from '@nestjs/swagger';
import { IsBoolean, IsOptional } from 'class-validator';
import { CreateDriverDto } from './create-driver.dto.js';

export class UpdateDriverDto extends PartialType(CreateDriverDto) {
  @ApiPropertyOptional({ description: 'false takes the driver out of every search at once; its token is refused until it is active again' })
  @IsOptional()
  @IsBoolean()
  isActive?: boolean;
}
