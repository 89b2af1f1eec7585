import { CallHandler, ExecutionContext, HttpStatus, Injectable, NestInterceptor, RequestMethod } from '@nestjs/common';
import { HTTP_CODE_METADATA } from '@nestjs/common/constants.js';
import { from, lastValueFrom, Observable } from 'rxjs';
import type { AuthenticatedRequest } from '../auth/auth.decorators.js';
import { SignedRequestReplayService } from './signed-request-replay.service.js';

/** Applies replay safety to the signed requests of every Nest route: see `SignedRequestReplayService.once`. */
@Injectable()
export class SignedRequestReplayInterceptor implements NestInterceptor {
  constructor(private readonly replays: SignedRequestReplayService) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest & { rawBody?: Buffer }>();
    const successStatus: number =
      (Reflect.getMetadata(HTTP_CODE_METADATA, context.getHandler()) as number | undefined) ??
      (request.method === RequestMethod[RequestMethod.POST] ? HttpStatus.CREATED : HttpStatus.OK);
    return from(this.replays.once(request.principal, request, successStatus, () => lastValueFrom(next.handle())));
  }
}
