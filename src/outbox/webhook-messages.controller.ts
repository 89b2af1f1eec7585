import { Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import {
  ApiConflictResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProperty,
  ApiPropertyOptional,
  ApiTags,
} from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { PageQuery } from '../common/page.query.js';
import { ErrorResponseDto } from '../common/error.response.js';
import { WebhookMessagesService } from './webhook-messages.service.js';
import type { WebhookMessage } from './webhook-messages.repository.js';

const STATUSES = ['pending', 'delivered', 'failed'] as const;

export class ListWebhookMessagesQuery extends PageQuery {
  @ApiPropertyOptional({ enum: STATUSES }) @IsOptional() @IsIn(STATUSES) status?: (typeof STATUSES)[number];
}

export class WebhookMessageDto {
  @ApiProperty({ description: 'The webhook-id, the same on every attempt' }) id!: string;
  @ApiProperty({ format: 'uuid' }) deliveryId!: string;
  @ApiProperty({ example: 'delivery.assigned' }) type!: string;
  @ApiProperty({ enum: STATUSES }) status!: string;
  @ApiProperty() attempts!: number;
  @ApiProperty({ format: 'date-time' }) nextAttemptAt!: string;
  @ApiProperty({ type: Number, nullable: true }) lastStatusCode!: number | null;
  @ApiProperty({ type: String, nullable: true }) lastError!: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) deliveredAt!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) failedAt!: string | null;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'The body sent to Vendure' }) payload!: Record<string, unknown>;
}

export class WebhookMessagePageDto {
  @ApiProperty({ type: [WebhookMessageDto] }) items!: WebhookMessageDto[];
  @ApiProperty({ type: String, nullable: true }) nextCursor!: string | null;
}

function toWebhookMessageResponse(m: WebhookMessage): WebhookMessageDto {
  const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
  return {
    id: m.id,
    deliveryId: m.deliveryId,
    type: m.type,
    status: m.status,
    attempts: m.attempts,
    nextAttemptAt: new Date(m.nextAttemptAt).toISOString(),
    lastStatusCode: m.lastStatusCode,
    lastError: m.lastError,
    createdAt: new Date(m.createdAt).toISOString(),
    deliveredAt: iso(m.deliveredAt),
    failedAt: iso(m.failedAt),
    payload: m.payload,
  };
}

@ApiTags('webhooks')
@Controller('webhooks/messages')
export class WebhookMessagesController {
  constructor(private readonly messages: WebhookMessagesService) {}

  @Get()
  @ApiOperation({
    summary: 'Outbound webhook messages (admin), by status, in creation order',
    description:
      '`failed` ones are the dead letters: every attempt of the retry schedule was refused or timed out. Cursor-paginated like the other lists.',
  })
  @ApiOkResponse({ type: WebhookMessagePageDto })
  async list(@Query() query: ListWebhookMessagesQuery): Promise<WebhookMessagePageDto> {
    const page = await this.messages.list(query);
    return { items: page.items.map(toWebhookMessageResponse), nextCursor: page.nextCursor };
  }

  @Post(':id/retry')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Send a failed (or pending) message again, from its first attempt (admin)',
    description: 'With the same webhook-id, so a receiver that had it already can tell. A delivered one: 409 WEBHOOK_ALREADY_DELIVERED.',
  })
  @ApiOkResponse({ type: WebhookMessageDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'WEBHOOK_MESSAGE_NOT_FOUND' })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'WEBHOOK_ALREADY_DELIVERED' })
  async retry(@Param('id') id: string): Promise<WebhookMessageDto> {
    return toWebhookMessageResponse(await this.messages.retry(id));
  }
}
