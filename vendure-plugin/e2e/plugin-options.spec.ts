import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { DriverIntegrationPlugin } from '../src';

const GOOD = { serviceUrl: 'http://127.0.0.1:3001', webhookSecret: `whsec_${Buffer.alloc(32, 1).toString('base64')}` };

describe('DriverIntegrationPlugin.init', () => {
    it('refuses to start without a usable secret or service URL, naming each problem', () => {
        const cases: Array<[object, RegExp]> = [
            [{ webhookSecret: undefined }, /webhookSecret must be the service's VENDURE_WEBHOOK_SECRET/],
            [{ webhookSecret: 'hunter2' }, /webhookSecret must be/],
            [{ webhookSecret: `whsec_${Buffer.alloc(8, 1).toString('base64')}` }, /shorter than 24 bytes/],
            [{ serviceUrl: 'drivers.internal' }, /serviceUrl is not a URL/],
            [{ serviceUrl: 'ftp://drivers.internal' }, /serviceUrl must be http\(s\)/],
            [{ dispatch: { maxWaitSeconds: -1 } }, /maxWaitSeconds must be an integer, 0–86400/],
        ];
        for (const [override, message] of cases) {
            assert.throws(() => DriverIntegrationPlugin.init({ ...GOOD, ...override } as never), message, JSON.stringify(override));
        }
    });

    it('takes good options and fills in the default strategies', () => {
        assert.equal(DriverIntegrationPlugin.init(GOOD), DriverIntegrationPlugin);
        assert.equal(DriverIntegrationPlugin.options.pickupPointStrategy?.constructor.name, 'StockLocationPickupPointStrategy');
        assert.equal(DriverIntegrationPlugin.options.dropoffPointStrategy?.constructor.name, 'AddressDropoffPointStrategy');
    });
});
