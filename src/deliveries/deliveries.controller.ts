import { Body, Controller, Get, Param, Patch, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiConflictResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AllowCallers, CurrentPrincipal } from '../auth/auth.decorators.js';
import type { Principal } from '../auth/principal.js';
import { ApiAuthErrors } from '../common/api-docs.decorators.js';
import { ErrorResponseDto } from '../common/error.response.js';
import { UuidParam } from '../common/uuid-param.pipe.js';
import { DeliveriesService } from './deliveries.service.js';
import {
  DeliveryEventDto,
  DeliveryPageDto,
  DeliveryResponseDto,
  toDeliveryEventResponse,
  toDeliveryResponse,
} from './dto/delivery.response.js';
import { ListDeliveriesQuery } from './dto/list-deliveries.query.js';
import { UpdateDeliveryStatusDto } from './dto/update-delivery-status.dto.js';

@ApiTags('deliveries')
@ApiBearerAuth()
@ApiAuthErrors()
@Controller('deliveries')
export class DeliveriesController {
  constructor(private readonly deliveries: DeliveriesService) {}

  @Get()
  @ApiOperation({ summary: 'List deliveries in creation order (admin), cursor-paginated' })
  @ApiOkResponse({ type: DeliveryPageDto })
  async list(@Query() query: ListDeliveriesQuery): Promise<DeliveryPageDto> {
    const page = await this.deliveries.list(query);
    return { items: page.items.map(toDeliveryResponse), nextCursor: page.nextCursor };
  }

  @Get(':id')
  @AllowCallers('admin', 'driver', 'driver-backend')
  @ApiOperation({ summary: 'Get a delivery (admin, its driver)' })
  @ApiOkResponse({ type: DeliveryResponseDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'DELIVERY_NOT_FOUND' })
  async get(@Param('id', UuidParam()) id: string, @CurrentPrincipal() principal: Principal): Promise<DeliveryResponseDto> {
    return toDeliveryResponse(await this.deliveries.get(id, principal));
  }

  @Get(':id/events')
  @AllowCallers('admin', 'driver', 'driver-backend')
  @ApiOperation({ summary: 'The audit trail of a delivery, oldest first (admin, its driver)' })
  @ApiOkResponse({ type: [DeliveryEventDto] })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'DELIVERY_NOT_FOUND' })
  async events(@Param('id', UuidParam()) id: string, @CurrentPrincipal() principal: Principal): Promise<DeliveryEventDto[]> {
    return (await this.deliveries.events(id, principal)).map(toDeliveryEventResponse);
  }

  @Patch(':id/status')
  @AllowCallers('admin', 'driver', 'driver-backend')
  @ApiOperation({ summary: 'Report PICKED_UP, DELIVERED or FAILED (its driver, admin); CANCELLED (admin)' })
  @ApiOkResponse({ type: DeliveryResponseDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'DELIVERY_NOT_FOUND' })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'INVALID_DELIVERY_TRANSITION' })
  async updateStatus(
    @Param('id', UuidParam()) id: string,
    @Body() dto: UpdateDeliveryStatusDto,
    @CurrentPrincipal() principal: Principal,
  ): Promise<DeliveryResponseDto> {
    return toDeliveryResponse(await this.deliveries.report(id, dto.status, dto.reason, principal));
  }
}
