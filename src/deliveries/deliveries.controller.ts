import { Body, Controller, Get, Param, Patch, Query } from '@nestjs/common';
import { ApiConflictResponse, ApiForbiddenResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AllowCallers, CurrentPrincipal } from '../auth/auth.decorators.js';
import type { Principal } from '../auth/principal.js';
import { ERROR_DESCRIPTIONS } from '../common/api-docs.decorators.js';
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

const ANOTHER_DRIVERS = `${ERROR_DESCRIPTIONS[403]}, or a driver token on another driver's delivery`;

@ApiTags('deliveries')
@Controller('deliveries')
export class DeliveriesController {
  constructor(private readonly deliveries: DeliveriesService) {}

  @Get()
  @ApiOperation({
    summary: 'List deliveries in creation order (admin), cursor-paginated',
    description:
      'Optionally by `sellerOrderId`, `driverId` and `status`. Pass `nextCursor` as `cursor` for the next page; it is null on the last one.',
  })
  @ApiOkResponse({ type: DeliveryPageDto })
  async list(@Query() query: ListDeliveriesQuery): Promise<DeliveryPageDto> {
    const page = await this.deliveries.list(query);
    return { items: page.items.map(toDeliveryResponse), nextCursor: page.nextCursor };
  }

  @Get(':id')
  @AllowCallers('admin', 'driver', 'driver-backend')
  @ApiOperation({ summary: 'Get a delivery (admin, its driver)', description: 'A driver token reads only its own deliveries and offers.' })
  @ApiOkResponse({ type: DeliveryResponseDto })
  @ApiForbiddenResponse({ type: ErrorResponseDto, description: ANOTHER_DRIVERS })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'DELIVERY_NOT_FOUND' })
  async get(@Param('id', UuidParam()) id: string, @CurrentPrincipal() principal: Principal): Promise<DeliveryResponseDto> {
    return toDeliveryResponse(await this.deliveries.get(id, principal));
  }

  @Get(':id/events')
  @AllowCallers('admin', 'driver', 'driver-backend')
  @ApiOperation({
    summary: 'The audit trail of a delivery, oldest first (admin, its driver)',
    description: 'One event per state change, with who made it (`actor`) and its data (a reason, the attempt).',
  })
  @ApiOkResponse({ type: [DeliveryEventDto] })
  @ApiForbiddenResponse({ type: ErrorResponseDto, description: ANOTHER_DRIVERS })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'DELIVERY_NOT_FOUND' })
  async events(@Param('id', UuidParam()) id: string, @CurrentPrincipal() principal: Principal): Promise<DeliveryEventDto[]> {
    return (await this.deliveries.events(id, principal)).map(toDeliveryEventResponse);
  }

  @Patch(':id/status')
  @AllowCallers('admin', 'driver', 'driver-backend')
  @ApiOperation({
    summary: 'Report PICKED_UP, DELIVERED or FAILED (its driver, admin); CANCELLED (admin)',
    description:
      'A move the state machine forbids: 409 INVALID_DELIVERY_TRANSITION; the same move twice: 200, with no new event. ' +
      'Each change is one audit event and one `delivery.*` webhook; in a final state the driver is AVAILABLE again.',
  })
  @ApiOkResponse({ type: DeliveryResponseDto })
  @ApiForbiddenResponse({ type: ErrorResponseDto, description: `${ANOTHER_DRIVERS}, or CANCELLED asked for by anyone but an operator` })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'DELIVERY_NOT_FOUND' })
  @ApiConflictResponse({
    type: ErrorResponseDto,
    description:
      'INVALID_DELIVERY_TRANSITION: a move the state machine forbids; DELIVERY_REASSIGNED: this driver was taken off the delivery, which went to another',
  })
  async updateStatus(
    @Param('id', UuidParam()) id: string,
    @Body() dto: UpdateDeliveryStatusDto,
    @CurrentPrincipal() principal: Principal,
  ): Promise<DeliveryResponseDto> {
    return toDeliveryResponse(await this.deliveries.report(id, dto.status, dto.reason, principal));
  }
}
