import { HttpStatus, Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Principal } from '../auth/principal.js';
import { DomainError } from '../common/domain-error.js';
import { StoredErrorResponse, toErrorResponse } from '../common/error-response.js';
import { Batcher } from '../common/batcher.js';
import { requestTarget } from '../common/request-target.js';
import { ReceiptAnswer, ReceiptSighting, WebhookReceiptsRepository } from './webhook-receipts.repository.js';

/** How long a webhook-id is remembered (twice the signature tolerance, as the contract says). */
export const REPLAY_WINDOW_SECONDS = 10 * 60;
const IN_PROGRESS_WAIT_MS = 5_000;
/** A first attempt that has not answered after this long is taken to be dead; a retry takes over. */
const ABANDONED_AFTER_SECONDS = 30;
/**
 * Receipts outlive the window by a margin, so clock differences cannot open a
 * gap; the retention job (src/retention/) deletes them after that.
 */
export const RECEIPT_KEEP_SECONDS = REPLAY_WINDOW_SECONDS + 60;

export type ReplayDecision = { kind: 'first' } | { kind: 'replay'; statusCode: number; response: unknown };

/**
 * Makes signed requests replay-safe: the first request with a webhook-id is
 * processed and its answer stored; a repeat with the same body gets that
 * answer again without running anything, a repeat with another body is
 * refused (409 WEBHOOK_ID_REUSED). Receipts live in PostgreSQL, so every
 * process of a cluster sees them.
 */
@Injectable()
export class SignedRequestReplayService {
  /** First sightings and answers of concurrent requests are written together (see Batcher). */
  private readonly sightings = new Batcher<ReceiptSighting, boolean>((sightings) => this.receipts.claim(sightings));
  private readonly answers = new Batcher<ReceiptAnswer>((answers) => this.receipts.complete(answers));

  constructor(private readonly receipts: WebhookReceiptsRepository) {}

  /**
   * Runs `handle` for a request once per webhook-id: a signed request that
   * changes something (any method but GET and HEAD) by Vendure or the driver
   * app backend. A repeat gets the first answer again (an error answer is
   * thrown as a StoredErrorResponse) without running anything. Every other
   * request runs as it is. A client error is stored as the answer; a
   * server-side failure or a rate limit is not, so that the retry runs again.
   * A message belongs to the route it was first seen on (method and path):
   * the same webhook-id on another route is refused, 409 WEBHOOK_ID_REUSED,
   * released or not, so a signed message cannot be re-aimed.
   */
  async once<T>(
    principal: Principal | undefined,
    request: { method: string; url: string; rawBody?: Buffer },
    successStatus: number,
    handle: () => Promise<T>,
    { storeAnswer = true }: { storeAnswer?: boolean } = {},
  ): Promise<T> {
    if (
      !principal ||
      (principal.kind !== 'vendure' && principal.kind !== 'driver-backend') ||
      request.method === 'GET' ||
      request.method === 'HEAD'
    ) {
      return handle();
    }
    const { kind: source, messageId } = principal;
    // The column holds 300 characters; routes' paths are far shorter (path parameters are at most 100).
    const target = requestTarget(request).slice(0, 300);
    const decision = await this.begin(source, messageId, request.rawBody ?? Buffer.alloc(0), target);
    if (decision.kind === 'replay') {
      if (decision.statusCode >= 400) throw new StoredErrorResponse(decision.response);
      // An answer that was not stored is made again by the handler, which gives the same one for the same message.
      return storeAnswer ? (decision.response as T) : handle();
    }
    try {
      const answer = await handle();
      await this.complete(source, messageId, successStatus, storeAnswer ? answer : null);
      return answer;
    } catch (error) {
      // Storing the answer failing is a server-side failure too: the id is released, and a retry runs again.
      const { body } = toErrorResponse(error);
      if (body.statusCode < 500 && body.statusCode !== (HttpStatus.TOO_MANY_REQUESTS as number)) {
        await this.complete(source, messageId, body.statusCode, body);
      } else await this.release(source, messageId).catch(() => undefined);
      throw error;
    }
  }

  async begin(source: string, webhookId: string, body: Buffer, target: string): Promise<ReplayDecision> {
    const bodySha256 = createHash('sha256').update(body).digest('hex');
    if (await this.sightings.add({ source, webhookId, bodySha256, target })) return { kind: 'first' };

    // Seen before: wait briefly if the first request is still being processed.
    const deadline = Date.now() + IN_PROGRESS_WAIT_MS;
    for (;;) {
      const receipt = await this.receipts.find(source, webhookId);
      if (!receipt) {
        // Deleted meanwhile (past the replay window): this one is a first sighting again.
        if (await this.sightings.add({ source, webhookId, bodySha256, target })) return { kind: 'first' };
        continue;
      }
      if (receipt.target !== null && receipt.target !== target) {
        throw new DomainError('WEBHOOK_ID_REUSED', 'This webhook-id was already used on another route');
      }
      if (receipt.bodySha256 !== bodySha256) {
        throw new DomainError('WEBHOOK_ID_REUSED', 'This webhook-id was already used with a different body');
      }
      if (receipt.statusCode !== null) return { kind: 'replay', statusCode: receipt.statusCode, response: receipt.response };
      if (receipt.released && (await this.receipts.retake(source, webhookId))) return { kind: 'first' };
      if (await this.receipts.takeOverAbandoned(source, webhookId, ABANDONED_AFTER_SECONDS)) return { kind: 'first' };
      if (Date.now() > deadline) {
        throw new DomainError('WEBHOOK_IN_PROGRESS', 'A request with this webhook-id is still being processed; retry later');
      }
      await delay(50);
    }
  }

  /** Stores the first request's answer; answers of concurrent requests are stored together. */
  complete(source: string, webhookId: string, statusCode: number, response: unknown): Promise<void> {
    return this.answers.add({ source, webhookId, statusCode, response });
  }

  /** Lets the retry of a request that failed on our side (5xx) or was rate-limited run afresh, on the same route only. */
  release(source: string, webhookId: string): Promise<void> {
    return this.receipts.release(source, webhookId);
  }
}
