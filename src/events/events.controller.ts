import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiConflictResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AllowCallers, CurrentPrincipal, RateLimited } from '../auth/auth.decorators.js';
import type { Principal } from '../auth/principal.js';
import { AssignmentService } from '../dispatch/assignment.service.js';
import { ErrorResponseDto } from '../common/error.response.js';
import { actorOf } from '../deliveries/actor.js';
import { SellerOrderCancelledAnswerDto, SellerOrderCancelledDto } from './dto/seller-order-cancelled.dto.js';
import { SellerOrderReadyAnswerDto, SellerOrderReadyDto } from './dto/seller-order-ready.dto.js';

/**
 * Events Vendure sends, signed with VENDURE_WEBHOOK_SECRET (Standard Webhooks). The signature headers,
 * the security scheme and the errors of signed routes are documented from @AllowCallers (openapi/route-access.docs.ts).
 */
@ApiTags('events')
@AllowCallers('vendure')
@Controller('events')
export class EventsController {
  constructor(private readonly assignment: AssignmentService) {}

  @Post('seller-order-ready')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Assign the nearest available driver to a ready order (idempotent on sellerOrderId)',
    description:
      'The nearest choosable driver by straight-line distance to the pickup, within ASSIGNMENT_MAX_RADIUS_KM, is assigned (auto mode) or offered ' +
      'the order (offer mode), committed and out of every search before the answer. With no driver in reach the order waits as PENDING ' +
      'for up to `maxWaitSeconds` (DISPATCH_MAX_WAIT_SECONDS); with no wait the answer is NO_DRIVER_AVAILABLE and nothing is kept. A repeat for an order with a ' +
      'live delivery answers that delivery and changes nothing. Works without Redis; with PostgreSQL down, 503 and nothing changed.',
  })
  @RateLimited('orderReady')
  @ApiOkResponse({ type: SellerOrderReadyAnswerDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'DELIVERY_ALREADY_FINISHED: the order was already delivered' })
  ready(@Body() dto: SellerOrderReadyDto, @CurrentPrincipal() principal: Principal): Promise<SellerOrderReadyAnswerDto> {
    return this.assignment.assign(dto, actorOf(principal));
  }

  @Post('seller-order-cancelled')
  @HttpCode(200)
  @ApiOperation({
    summary: "Cancel the order's delivery and free its driver (repeats are harmless)",
    description:
      "The order's latest delivery goes CANCELLED from any state that is not final, and its driver, if any, is AVAILABLE again; a cancelled one answers the same again.",
  })
  @ApiOkResponse({ type: SellerOrderCancelledAnswerDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'DELIVERY_NOT_FOUND: no delivery for this order' })
  @ApiConflictResponse({
    type: ErrorResponseDto,
    description: 'DELIVERY_ALREADY_FINISHED: the delivery already ended DELIVERED, FAILED or EXPIRED',
  })
  cancelled(@Body() dto: SellerOrderCancelledDto, @CurrentPrincipal() principal: Principal): Promise<SellerOrderCancelledAnswerDto> {
    return this.assignment.cancel(dto.sellerOrderId, dto.reason, actorOf(principal));
  }
}
