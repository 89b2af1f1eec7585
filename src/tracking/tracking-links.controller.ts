import { Body, Controller, Param, Post } from '@nestjs/common';
import { ApiConflictResponse, ApiCreatedResponse, ApiNotFoundResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AllowCallers, CurrentPrincipal } from '../auth/auth.decorators.js';
import type { Principal } from '../auth/principal.js';
import { DomainError } from '../common/domain-error.js';
import { ErrorResponseDto } from '../common/error.response.js';
import { UuidParam } from '../common/uuid-param.pipe.js';
import { ReplayRunsAgain } from '../signed-requests/signed-request-replay.interceptor.js';
import { TrackingLinkDto } from './dto/tracking.response.js';
import { TrackingService } from './tracking.service.js';

/** Tracking links for customers (contract v2, "Live tracking and ETA"); the links' own routes are in tracking.routes.ts. */
@ApiTags('tracking')
@Controller('deliveries')
export class TrackingLinksController {
  constructor(private readonly tracking: TrackingService) {}

  @Post(':id/tracking-links')
  @AllowCallers('admin', 'vendure')
  @ReplayRunsAgain()
  @ApiOperation({
    summary: 'A tracking link for the customer (admin, or signed by Vendure)',
    description:
      'The token reads this one delivery through `GET /track/{token}`, its event stream and its page, and nothing else; ' +
      'it stops working TRACKING_LINK_TTL_SECONDS after the delivery ends. Only its SHA-256 is stored: keep the answer. ' +
      'A Vendure-signed request replayed with the same webhook-id gets the same link again. Each call makes a new link; earlier ones keep working.',
  })
  @ApiCreatedResponse({ type: TrackingLinkDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'DELIVERY_NOT_FOUND' })
  @ApiConflictResponse({
    type: ErrorResponseDto,
    description: 'DELIVERY_ALREADY_FINISHED: the delivery ended longer ago than TRACKING_LINK_TTL_SECONDS',
  })
  async create(
    @Param('id', UuidParam()) id: string,
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
  ): Promise<TrackingLinkDto> {
    // The request takes no fields yet: no body, or an empty object.
    if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body) || Object.keys(body).length > 0)) {
      const fields = typeof body === 'object' && !Array.isArray(body) ? Object.keys(body) : [];
      throw new DomainError(
        'VALIDATION_FAILED',
        fields.length > 0 ? fields.map((f) => `property ${f} should not exist`) : ['the body must be an empty object'],
      );
    }
    return this.tracking.createLink(id, principal);
  }
}
