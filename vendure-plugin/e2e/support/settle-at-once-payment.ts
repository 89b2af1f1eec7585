import { LanguageCode, PaymentMethodHandler } from '@vendure/core';

export const SETTLE_AT_ONCE = 'settle-at-once';

/** A payment that settles as soon as it is added: the order goes straight to PaymentSettled. */
export const settleAtOncePaymentHandler = new PaymentMethodHandler({
    code: SETTLE_AT_ONCE,
    description: [{ languageCode: LanguageCode.en, value: 'Settles at once (tests)' }],
    args: {},
    createPayment: (ctx, order, amount) => ({ amount, state: 'Settled', transactionId: `test-${order.code}` }),
    settlePayment: () => ({ success: true }),
});
