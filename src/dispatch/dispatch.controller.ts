import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiConflictResponse, ApiForbiddenResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AllowCallers, CurrentPrincipal, OwnDriverOnly } from '../auth/auth.decorators.js';
import type { Principal } from '../auth/principal.js';
import { ERROR_DESCRIPTIONS } from '../common/api-docs.decorators.js';
import { ErrorResponseDto } from '../common/error.response.js';
import { UuidParam } from '../common/uuid-param.pipe.js';
import { DeliveriesService } from '../deliveries/deliveries.service.js';
import { DeliveryPageDto, DeliveryResponseDto, toDeliveryResponse } from '../deliveries/dto/delivery.response.js';
import { driverNotFound, FleetService } from '../fleet/fleet.service.js';
import { AcceptOfferDto, AnswerReasonDto, DeclineOfferDto } from './dto/answer-reason.dto.js';
import { DriverDeliveriesQuery } from './dto/driver-deliveries.query.js';
import { OffersService } from './offers.service.js';

const NOT_THE_HOLDER = `${ERROR_DESCRIPTIONS[403]}, or the driver answering (a driver token's own, or \`driverId\`) does not hold the delivery`;

/** Offers and reassignment (contract v2, "Dispatch"). */
@ApiTags('deliveries')
@Controller('deliveries')
export class OffersController {
  constructor(private readonly offers: OffersService) {}

  @Post(':id/accept')
  @HttpCode(200)
  @AllowCallers('admin', 'driver', 'driver-backend')
  @ApiOperation({
    summary: 'Accept an offer (the offered driver): OFFERED → ASSIGNED. Accepting twice is 200 with no new event.',
    description:
      'The driver app backend and operators name the driver in `driverId`. An offer that timed out: 409 OFFER_EXPIRED; none pending: 409 OFFER_NOT_PENDING.',
  })
  @ApiOkResponse({ type: DeliveryResponseDto })
  @ApiForbiddenResponse({ type: ErrorResponseDto, description: NOT_THE_HOLDER })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'DELIVERY_NOT_FOUND' })
  @ApiConflictResponse({
    type: ErrorResponseDto,
    description: 'OFFER_NOT_PENDING (no offer to accept), OFFER_EXPIRED (the offer timed out)',
  })
  async accept(
    @Param('id', UuidParam()) id: string,
    @Body() dto: AcceptOfferDto,
    @CurrentPrincipal() principal: Principal,
  ): Promise<DeliveryResponseDto> {
    return toDeliveryResponse(await this.offers.accept(id, principal, dto?.driverId));
  }

  @Post(':id/decline')
  @HttpCode(200)
  @AllowCallers('admin', 'driver', 'driver-backend')
  @ApiOperation({
    summary:
      'Decline an offer, or an assignment before pickup (that driver): back to PENDING, on to the next nearest driver who has not refused it',
    description:
      'The order is offered to the next nearest driver who has not declined it or let it time out, and never again to this one. ' +
      'The driver app backend and operators name the driver in `driverId`.',
  })
  @ApiOkResponse({ type: DeliveryResponseDto, description: 'The delivery; to a driver token, as its decline left it (PENDING)' })
  @ApiForbiddenResponse({ type: ErrorResponseDto, description: NOT_THE_HOLDER })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'DELIVERY_NOT_FOUND' })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'INVALID_DELIVERY_TRANSITION (picked up or finished), OFFER_EXPIRED' })
  async decline(
    @Param('id', UuidParam()) id: string,
    @Body() dto: DeclineOfferDto,
    @CurrentPrincipal() principal: Principal,
  ): Promise<DeliveryResponseDto> {
    return toDeliveryResponse(await this.offers.decline(id, principal, dto?.reason ?? null, dto?.driverId));
  }

  @Post(':id/reassign')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Take the driver off an OFFERED or ASSIGNED delivery (admin): back to PENDING, on to the next driver',
    description: 'The driver is freed; the order is dispatched again, to the next nearest driver, with `attempt` + 1.',
  })
  @ApiOkResponse({ type: DeliveryResponseDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'DELIVERY_NOT_FOUND' })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'INVALID_DELIVERY_TRANSITION (not OFFERED or ASSIGNED)' })
  async reassign(
    @Param('id', UuidParam()) id: string,
    @Body() dto: AnswerReasonDto,
    @CurrentPrincipal() principal: Principal,
  ): Promise<DeliveryResponseDto> {
    return toDeliveryResponse(await this.offers.reassign(id, principal, dto?.reason ?? null));
  }
}

/** A driver's own work, offers included (contract v2, "Dispatch"). */
@ApiTags('drivers')
@Controller('drivers')
export class DriverWorkController {
  constructor(
    private readonly deliveries: DeliveriesService,
    private readonly fleet: FleetService,
  ) {}

  @Get(':id/deliveries')
  @AllowCallers('admin', 'driver', 'driver-backend')
  @OwnDriverOnly()
  @ApiOperation({
    summary: "A driver's own deliveries and offers, in creation order (that driver, admin), cursor-paginated",
    description: 'Optionally by `status`; an offer carries `offerExpiresAt`. Pass `nextCursor` as `cursor` for the next page.',
  })
  @ApiOkResponse({ type: DeliveryPageDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'DRIVER_NOT_FOUND' })
  async driverDeliveries(@Param('id', UuidParam()) id: string, @Query() query: DriverDeliveriesQuery): Promise<DeliveryPageDto> {
    if (!(await this.fleet.exists(id))) throw driverNotFound(id);
    const page = await this.deliveries.list({ ...query, driverId: id });
    return { items: page.items.map(toDeliveryResponse), nextCursor: page.nextCursor };
  }
}
