import { Body, Controller, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiConflictResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AllowCallers, OwnDriverOnly } from '../auth/auth.decorators.js';
import { ApiTooManyRequests } from '../common/api-docs.decorators.js';
import { ErrorResponseDto } from '../common/error.response.js';
import { UuidParam } from '../common/uuid-param.pipe.js';
import { DriverResponseDto, toDriverResponse } from '../drivers/dto/driver.response.js';
import { AvailabilityService } from './availability.service.js';
import { roundMeters } from './geo.js';
import { NearbyQuery, NearbyResponseDto } from './dto/nearby.query.js';
import { UpdateStatusDto } from './dto/update-status.dto.js';
import { LocationBatchAcceptedDto, LocationBatchDto } from './dto/update-location.dto.js';

/** Nearby search, AVAILABLE/OFFLINE and batches of points; single location updates are served by location.route.ts. */
@ApiTags('drivers')
@Controller('drivers')
export class DriverAvailabilityController {
  constructor(private readonly availability: AvailabilityService) {}

  @Get('nearby')
  @ApiOperation({
    summary: 'Nearest drivers that could be chosen now (admin), nearest first',
    description:
      'Only drivers an order could get now: active, AVAILABLE, with a known location and a heartbeat younger than DRIVER_HEARTBEAT_TTL_SECONDS. ' +
      'Straight-line distances from the point, within `radiusKm`.',
  })
  @ApiOkResponse({ type: NearbyResponseDto })
  async nearby(@Query() query: NearbyQuery): Promise<NearbyResponseDto> {
    const hits = await this.availability.findNearest({ ...query, limit: query.limit ?? 10 });
    return { items: hits.map((hit) => ({ driver: toDriverResponse(hit.driver), distanceMeters: roundMeters(hit.distanceMeters) })) };
  }

  @Post(':id/locations')
  @HttpCode(200)
  @AllowCallers('admin', 'driver', 'driver-backend')
  @OwnDriverOnly()
  @ApiOperation({
    summary: 'Report a batch of 1–100 points (what the phone buffered offline); the newest accepted one moves the driver',
    description:
      'One location update for the rate limit. Points are taken oldest first; each older than the stored point, too inaccurate or a GPS jump is counted in `ignored` and only refreshes the heartbeat. One invalid point refuses the whole batch (400, naming it) and stores nothing.',
  })
  @ApiOkResponse({ type: LocationBatchAcceptedDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'DRIVER_NOT_FOUND' })
  @ApiTooManyRequests()
  async updateLocations(@Param('id', UuidParam()) id: string, @Body() dto: LocationBatchDto): Promise<LocationBatchAcceptedDto> {
    return this.availability.recordLocations(
      id,
      dto.points.map(({ recordedAt, ...point }) => ({ ...point, recordedAt: new Date(recordedAt) })),
    );
  }

  @Patch(':id/status')
  @AllowCallers('admin', 'driver', 'driver-backend')
  @OwnDriverOnly()
  @ApiOperation({
    summary: 'Go AVAILABLE or OFFLINE (BUSY is set only by assignment)',
    description:
      'The driver, the driver app backend or an operator. AVAILABLE makes the driver choosable once its location is known and fresh; ' +
      'asking for BUSY: 400. OFFLINE while a delivery is active: 409 DRIVER_HAS_ACTIVE_DELIVERY.',
  })
  @ApiOkResponse({ type: DriverResponseDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'DRIVER_NOT_FOUND' })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'DRIVER_HAS_ACTIVE_DELIVERY' })
  async updateStatus(@Param('id', UuidParam()) id: string, @Body() dto: UpdateStatusDto): Promise<DriverResponseDto> {
    return toDriverResponse(await this.availability.setStatus(id, dto.status));
  }
}
