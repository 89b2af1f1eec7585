import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';

import { signedHeaders, verifySignature, WebhookVerificationError } from '../src';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const OTHER = `whsec_${randomBytes(32).toString('base64')}`;
const BODY = JSON.stringify({ type: 'delivery.picked_up', data: { status: 'PICKED_UP' } });

/** Headers as the reference implementation (the `standardwebhooks` package) signs them. */
function reference(secret: string, id: string, at: Date, body = BODY) {
    return { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': new Webhook(secret).sign(id, at, body) };
}

describe('verifySignature', () => {
    it('accepts what the reference implementation signs, and the reference accepts what signedHeaders signs', () => {
        assert.equal(verifySignature(SECRET, reference(SECRET, 'msg_1', new Date()), BODY).id, 'msg_1');
        assert.doesNotThrow(() => new Webhook(SECRET).verify(BODY, signedHeaders(SECRET, 'msg_2', BODY)));
    });

    it('rejects another secret, an altered body, a timestamp over 5 minutes off and missing headers', () => {
        const now = new Date();
        const cases: Array<[string, () => unknown]> = [
            ['another secret', () => verifySignature(SECRET, reference(OTHER, 'msg_1', now), BODY)],
            ['altered body', () => verifySignature(SECRET, reference(SECRET, 'msg_1', now), BODY.replace('PICKED_UP', 'DELIVERED'))],
            ['stale', () => verifySignature(SECRET, reference(SECRET, 'msg_1', new Date(now.getTime() - 6 * 60_000)), BODY)],
            ['future', () => verifySignature(SECRET, reference(SECRET, 'msg_1', new Date(now.getTime() + 6 * 60_000)), BODY)],
            ['no signature', () => verifySignature(SECRET, { 'webhook-id': 'msg_1', 'webhook-timestamp': String(Math.floor(now.getTime() / 1000)) }, BODY)],
            ['not seconds', () => verifySignature(SECRET, { ...reference(SECRET, 'msg_1', now), 'webhook-timestamp': 'yesterday' }, BODY)],
        ];
        for (const [what, attempt] of cases) assert.throws(attempt, WebhookVerificationError, what);
    });

    it('signs the target as the reference signs a payload, with the same id and timestamp; only when asked', () => {
        const at = new Date();
        const headers = signedHeaders(SECRET, 'msg_t', BODY, at, 'POST /events/seller-order-ready');
        assert.equal(headers['webhook-target-signature'], new Webhook(SECRET).sign('msg_t', at, 'POST /events/seller-order-ready'));
        assert.equal(headers['webhook-signature'], new Webhook(SECRET).sign('msg_t', at, BODY));
        assert.equal('webhook-target-signature' in signedHeaders(SECRET, 'msg_u', BODY, at), false);
    });

    it('accepts a list of signatures with one good entry, as during a secret rotation; skips other versions', () => {
        const good = reference(SECRET, 'msg_3', new Date());
        const list = `v2,c29tZXRoaW5n ${reference(OTHER, 'msg_3', new Date())['webhook-signature']} ${good['webhook-signature']}`;
        assert.equal(verifySignature(SECRET, { ...good, 'webhook-signature': list }, BODY).id, 'msg_3');
    });
});
