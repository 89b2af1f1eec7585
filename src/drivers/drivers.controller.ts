import { Body, Controller, Get, Header, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import {
  ApiBody,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { AllowCallers, OwnDriverOnly } from '../auth/auth.decorators.js';
import { ErrorResponseDto } from '../common/error.response.js';
import { UuidParam } from '../common/uuid-param.pipe.js';
import { CreateDriverDto } from './dto/create-driver.dto.js';
import {
  CreatedDriverResponseDto,
  DriverPageDto,
  DriverResponseDto,
  DriverTokenResponseDto,
  toDriverResponse,
} from './dto/driver.response.js';
import { ListDriversQuery } from './dto/list-drivers.query.js';
import { UpdateDriverDto } from './dto/update-driver.dto.js';
import { DriversService } from './drivers.service.js';

// Security and the errors every route of its access gives are documented from @AllowCallers (openapi/route-access.docs.ts).
@ApiTags('drivers')
@Controller('drivers')
export class DriversController {
  constructor(private readonly drivers: DriversService) {}

  @Post()
  // The answer carries the token: no cache or proxy may keep it.
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    summary: 'Register a driver (admin). The token is shown once.',
    description:
      'A new driver is OFFLINE, with no location. Only a hash of its token is stored: `POST /drivers/{id}/token` issues a new one. ' +
      'A phone another driver has: 409 DRIVER_PHONE_TAKEN.',
  })
  @ApiCreatedResponse({ type: CreatedDriverResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'DRIVER_PHONE_TAKEN' })
  async create(@Body() dto: CreateDriverDto): Promise<CreatedDriverResponseDto> {
    const { driver, token } = await this.drivers.create(dto);
    return { ...toDriverResponse(driver), token };
  }

  @Get()
  @ApiOperation({
    summary: 'List drivers in creation order (admin), cursor-paginated',
    description: 'Optionally by `status`. Pass `nextCursor` as `cursor` for the next page; it is null on the last one.',
  })
  @ApiOkResponse({ type: DriverPageDto })
  async list(@Query() query: ListDriversQuery): Promise<DriverPageDto> {
    const page = await this.drivers.list(query);
    return { items: page.items.map(toDriverResponse), nextCursor: page.nextCursor };
  }

  @Get(':id')
  @AllowCallers('admin', 'driver', 'driver-backend')
  @OwnDriverOnly()
  @ApiOperation({
    summary: 'Get a driver (admin, the driver itself, the driver app backend)',
    description:
      'With its last location: the newest point any process has answered. A driver token reads only its own driver (another: 403). ' +
      "While PostgreSQL cannot be reached, answered from Redis's copy (profile as last committed, status as last mirrored); " +
      'a driver Redis has no copy of: 503 DATABASE_UNAVAILABLE.',
  })
  @ApiOkResponse({ type: DriverResponseDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'DRIVER_NOT_FOUND' })
  async get(@Param('id', UuidParam()) id: string): Promise<DriverResponseDto> {
    return toDriverResponse(await this.drivers.get(id));
  }

  @Patch(':id')
  @ApiOperation({
    summary: 'Update a driver (admin); isActive: false deactivates it',
    description: '`isActive: false` takes the driver out of every search at once. A phone another driver has: 409 DRIVER_PHONE_TAKEN.',
  })
  @ApiBody({ type: UpdateDriverDto })
  @ApiOkResponse({ type: DriverResponseDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'DRIVER_NOT_FOUND' })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'DRIVER_PHONE_TAKEN' })
  async update(@Param('id', UuidParam()) id: string, @Body() dto: UpdateDriverDto): Promise<DriverResponseDto> {
    return toDriverResponse(await this.drivers.update(id, dto));
  }

  @Post(':id/token')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    summary: "Rotate a driver's token (admin); earlier tokens stop working within 60 s",
    description: 'The new token is shown once, in this answer; only its hash is stored.',
  })
  @ApiOkResponse({ type: DriverTokenResponseDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'DRIVER_NOT_FOUND' })
  async rotateToken(@Param('id', UuidParam()) id: string): Promise<DriverTokenResponseDto> {
    return { token: await this.drivers.rotateToken(id) };
  }
}
