import { Injectable } from '@nestjs/common';
import { toPage } from '../common/cursor.js';
import { DomainError } from '../common/domain-error.js';
import { WebhookMessage, WebhookMessagesRepository, WebhookMessageStatus } from './webhook-messages.repository.js';
import { WebhookRelay } from './webhook-relay.service.js';

const MESSAGE_ID = /^msg_[0-9a-f-]{36}$/;

/** The message list's cursor: the last id, base64url-encoded as every cursor of the API (toPage makes it). */
function decode(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString();
  if (!MESSAGE_ID.test(id)) throw new DomainError('INVALID_CURSOR', 'cursor is not a cursor this service issued');
  return id;
}

/** Operators' view of the outbox: listing, and sending a message again. */
@Injectable()
export class WebhookMessagesService {
  constructor(
    private readonly messages: WebhookMessagesRepository,
    private readonly relay: WebhookRelay,
  ) {}

  async list(query: { status?: WebhookMessageStatus; limit?: number; cursor?: string }) {
    const limit = query.limit ?? 50;
    const afterId = query.cursor === undefined ? undefined : decode(query.cursor);
    return toPage(await this.messages.listPage({ status: query.status, afterId, limit }), limit);
  }

  async retry(id: string): Promise<WebhookMessage> {
    const existing = MESSAGE_ID.test(id) ? await this.messages.findById(id) : null;
    if (!existing) throw new DomainError('WEBHOOK_MESSAGE_NOT_FOUND', `Webhook message ${id} does not exist`);
    if (existing.status === 'delivered') throw new DomainError('WEBHOOK_ALREADY_DELIVERED', `Webhook message ${id} was delivered`);
    const retried = (await this.messages.retry(id))!;
    this.relay.wake();
    return retried;
  }
}
