import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiConflictResponse, ApiHeader, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AllowCallers, CurrentPrincipal, RateLimited } from '../auth/auth.decorators.js';
import type { Principal } from '../auth/principal.js';
import { AssignmentService } from '../dispatch/assignment.service.js';
import { ApiAuthErrors, ApiTooManyRequests } from '../common/api-docs.decorators.js';
import { ErrorResponseDto } from '../common/error.response.js';
import { actorOf } from '../deliveries/actor.js';
import { SellerOrderCancelledAnswerDto, SellerOrderCancelledDto } from './dto/seller-order-cancelled.dto.js';
import { SellerOrderReadyAnswerDto, SellerOrderReadyDto } from './dto/seller-order-ready.dto.js';

/** Events Vendure sends, signed with VENDURE_WEBHOOK_SECRET (Standard Webhooks). */
@ApiTags('events')
@ApiHeader({ name: 'webhook-id', required: true })
@ApiHeader({ name: 'webhook-timestamp', required: true, description: 'Unix seconds' })
@ApiHeader({ name: 'webhook-signature', required: true, description: 'v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{raw body}">' })
@ApiAuthErrors()
@AllowCallers('vendure')
@Controller('events')
export class EventsController {
  constructor(private readonly assignment: AssignmentService) {}

  @Post('seller-order-ready')
  @HttpCode(200)
  @ApiOperation({ summary: 'Assign the nearest available driver to a ready order (idempotent on sellerOrderId)' })
  @RateLimited('orderReady')
  @ApiOkResponse({ type: SellerOrderReadyAnswerDto })
  @ApiTooManyRequests()
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'DELIVERY_ALREADY_FINISHED, WEBHOOK_ID_REUSED' })
  ready(@Body() dto: SellerOrderReadyDto, @CurrentPrincipal() principal: Principal): Promise<SellerOrderReadyAnswerDto> {
    return this.assignment.assign(dto, actorOf(principal));
  }

  @Post('seller-order-cancelled')
  @HttpCode(200)
  @ApiOperation({ summary: "Cancel the order's delivery and free its driver (repeats are harmless)" })
  @ApiOkResponse({ type: SellerOrderCancelledAnswerDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'DELIVERY_NOT_FOUND' })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'DELIVERY_ALREADY_FINISHED' })
  cancelled(@Body() dto: SellerOrderCancelledDto, @CurrentPrincipal() principal: Principal): Promise<SellerOrderCancelledAnswerDto> {
    return this.assignment.cancel(dto.sellerOrderId, dto.reason, actorOf(principal));
  }
}
