import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiConflictResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AllowCallers, CurrentPrincipal } from '../auth/auth.decorators.js';
import type { Principal } from '../auth/principal.js';
import { AssignmentService } from '../dispatch/assignment.service.js';
import { ErrorResponseDto } from '../common/error.response.js';
import { actorOf } from '../deliveries/actor.js';
import { SellerOrderCancelledAnswerDto, SellerOrderCancelledDto } from './dto/seller-order-cancelled.dto.js';

/**
 * Events Vendure sends, signed with VENDURE_WEBHOOK_SECRET (Standard Webhooks). The signature headers,
 * the security scheme and the errors of signed routes are documented from @AllowCallers (openapi/route-access.docs.ts).
 * A ready order comes through a Fastify route of its own (order-ready.route.ts), the same steps at less cost.
 */
@ApiTags('events')
@AllowCallers('vendure')
@Controller('events')
export class EventsController {
  constructor(private readonly assignment: AssignmentService) {}

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
