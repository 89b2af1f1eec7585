import { ApiProperty } from '@nestjs/swagger';
import { IsIn } from 'class-validator';

export class UpdateStatusDto {
  @ApiProperty({ enum: ['AVAILABLE', 'OFFLINE'], description: 'BUSY is set only by assignment' })
  @IsIn(['AVAILABLE', 'OFFLINE'], { message: 'status must be AVAILABLE or OFFLINE (BUSY is set only by assignment)' })
  status!: 'AVAILABLE' | 'OFFLINE';
}
