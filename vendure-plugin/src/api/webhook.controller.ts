import { Controller, Post, Req, Res } from '@nestjs/common';
import type { Response } from 'express';

import { RequestWithRawBody } from '../config/raw-body.middleware';
import { WEBHOOK_CONTROLLER_PATH, WEBHOOK_ROUTE } from '../constants';
import { WebhookService } from '../service/webhook.service';

/** `POST /driver-service/webhooks`: the service's VENDURE_WEBHOOK_URL. */
@Controller(WEBHOOK_CONTROLLER_PATH)
export class WebhookController {
    constructor(private webhooks: WebhookService) {}

    @Post(WEBHOOK_ROUTE)
    async receive(@Req() req: RequestWithRawBody, @Res() res: Response): Promise<void> {
        const result = await this.webhooks.handle(req.headers, req.rawBody);
        res.status(result.status).type('text/plain').send(result.message ?? '');
    }
}
