import { CallHandler, ExecutionContext, HttpStatus, Injectable, NestInterceptor, RequestMethod } from '@nestjs/common';
import { HTTP_CODE_METADATA } from '@nestjs/common/constants.js';
import { catchError, from, mergeMap, Observable, of, switchMap, throwError } from 'rxjs';
import type { AuthenticatedRequest } from '../auth/auth.decorators.js';
import { StoredErrorResponse, toErrorResponse } from '../common/error-response.js';
import { SignedRequestReplayService } from './signed-request-replay.service.js';

/**
 * Applies replay safety to signed requests that change something (not GET or HEAD):
 * see `SignedRequestReplayService`.
 */
@Injectable()
export class SignedRequestReplayInterceptor implements NestInterceptor {
  constructor(private readonly replays: SignedRequestReplayService) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest & { rawBody?: Buffer }>();
    const principal = request.principal;
    const isRead = request.method === 'GET' || request.method === 'HEAD';
    if (!principal || (principal.kind !== 'vendure' && principal.kind !== 'driver-backend') || isRead) {
      return next.handle();
    }
    const { kind: source, messageId } = principal;
    const successStatus: number =
      Reflect.getMetadata(HTTP_CODE_METADATA, context.getHandler()) ??
      (request.method === RequestMethod[RequestMethod.POST] ? HttpStatus.CREATED : HttpStatus.OK);

    return from(this.replays.begin(source, messageId, request.rawBody ?? Buffer.alloc(0))).pipe(
      switchMap((decision) => {
        if (decision.kind === 'replay') {
          return decision.statusCode >= 400
            ? throwError(() => new StoredErrorResponse(decision.response))
            : of(decision.response);
        }
        return next.handle().pipe(
          mergeMap(async (body) => {
            await this.replays.complete(source, messageId, successStatus, body);
            return body;
          }),
          catchError(async (error: unknown) => {
            const { body } = toErrorResponse(error);
            // A client error is the answer; a server-side failure or a rate limit is not, so the retry runs again.
            if (body.statusCode < 500 && body.statusCode !== HttpStatus.TOO_MANY_REQUESTS) {
              await this.replays.complete(source, messageId, body.statusCode, body);
            } else await this.replays.release(source, messageId).catch(() => undefined);
            throw error;
          }),
        );
      }),
    );
  }
}
