import { CallHandler, ExecutionContext, HttpStatus, Injectable, NestInterceptor, RequestMethod, SetMetadata } from '@nestjs/common';
import { HTTP_CODE_METADATA } from '@nestjs/common/constants.js';
import { from, lastValueFrom, Observable } from 'rxjs';
import type { AuthenticatedRequest } from '../auth/auth.decorators.js';
import { SignedRequestReplayService } from './signed-request-replay.service.js';

const ANSWER_NOT_STORED = 'replay:answerNotStored';

/**
 * For a route whose answer holds a secret (a tracking link's token): its
 * receipt keeps the status but not the answer, and a replay runs the handler
 * again, which must then give the same answer (see SignedLinkTokens).
 */
export const ReplayRunsAgain = () => SetMetadata(ANSWER_NOT_STORED, true);

/** Applies replay safety to the signed requests of every Nest route: see `SignedRequestReplayService.once`. */
@Injectable()
export class SignedRequestReplayInterceptor implements NestInterceptor {
  constructor(private readonly replays: SignedRequestReplayService) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest & { rawBody?: Buffer }>();
    const successStatus: number =
      (Reflect.getMetadata(HTTP_CODE_METADATA, context.getHandler()) as number | undefined) ??
      (request.method === RequestMethod[RequestMethod.POST] ? HttpStatus.CREATED : HttpStatus.OK);
    const storeAnswer = Reflect.getMetadata(ANSWER_NOT_STORED, context.getHandler()) !== true;
    return from(this.replays.once(request.principal, request, successStatus, () => lastValueFrom(next.handle()), { storeAnswer }));
  }
}
