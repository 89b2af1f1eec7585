import { Inject, Injectable } from '@nestjs/common';
import { ChannelService, ID, idsAreEqual, Logger, Order, RequestContext, TransactionalConnection } from '@vendure/core';
import { In, IsNull, Not } from 'typeorm';

import { DriverServiceError, ReadyAnswer, sellerOrderCancelled, sellerOrderReady } from '../client/driver-service-client';
import { CANCELLED, loggerCtx, NOT_DISPATCHED, PLUGIN_OPTIONS, QUEUED, RETRYING, SERVICE_FINAL_STATUSES } from '../constants';
import { DriverDelivery } from '../entities/driver-delivery.entity';
import { DispatchOptions, DriverIntegrationOptions } from '../types';
import { DriverDeliveryService, roundedMetres } from './driver-delivery.service';
import { retryDelayMs, RetrySchedule, retrySchedule } from './retry-schedule';

/**
 * How long a queued or running send may take before the poller sends it
 * again: a job lost to a crash, or never queued, is recovered this way.
 */
export const SEND_LEASE_MS = 5 * 60_000;

export const sendLease = () => new Date(Date.now() + SEND_LEASE_MS);

/**
 * Sends what an order's DriverDelivery row asks for: a cancellation (once
 * requested, it wins) or a ready order. A send that finds no driver or no
 * service is scheduled again on the row (`nextAttemptAt`).
 */
@Injectable()
export class OrderSender {
    readonly schedule: RetrySchedule;

    constructor(
        @Inject(PLUGIN_OPTIONS) private options: DriverIntegrationOptions,
        private connection: TransactionalConnection,
        private channelService: ChannelService,
        private deliveries: DriverDeliveryService,
    ) {
        this.schedule = retrySchedule(options.retry);
    }

    async sync(ctx: RequestContext, orderId: ID): Promise<void> {
        const row = await this.deliveries.findForOrder(ctx, orderId);
        if (!row) return;
        if (row.cancelRequestedAt) {
            if (!SERVICE_FINAL_STATUSES.has(row.status)) await this.sendCancel(ctx, row);
            return;
        }
        if (row.status === QUEUED) await this.sendReady(ctx, row);
    }

    private async sendReady(ctx: RequestContext, row: DriverDelivery): Promise<void> {
        const order = await this.connection.getRepository(ctx, Order).findOne({ where: { id: row.orderId }, relations: ['channels'] });
        if (!order) return;
        const sellerChannel = await this.sellerChannel(order);
        const pickup = await this.options.pickupPointStrategy!.pickupPoint(ctx, order, sellerChannel);
        if (!pickup) {
            const reason = `no pickup point for channel "${sellerChannel.code}": set its pickupLatitude/pickupLongitude (or a stock location's)`;
            await this.deliveries.update(ctx, row, { status: NOT_DISPATCHED, nextAttemptAt: null, lastError: reason });
            await this.deliveries.note(ctx, order.id, `not dispatched, ${reason}`);
            return;
        }
        const dropoff = await this.options.dropoffPointStrategy!.dropoffPoint(ctx, order);
        const dispatch = await this.dispatchOptions(ctx, order);
        await this.deliveries.update(ctx, row, { sendAttempts: row.sendAttempts + 1, nextAttemptAt: sendLease() });

        let answer: ReadyAnswer;
        try {
            answer = await sellerOrderReady(this.deliveries.serviceOptions, {
                sellerOrderId: order.code,
                pickupLat: pickup.lat,
                pickupLon: pickup.lon,
                ...(dropoff ? { dropoffLat: dropoff.lat, dropoffLon: dropoff.lon } : {}),
                channelId: sellerChannel.code,
                ...dispatch,
            });
        } catch (error) {
            return this.sendFailed(ctx, row, error);
        }
        if (!('deliveryId' in answer)) return this.retryLater(ctx, row, 'no driver available');
        await this.deliveries.updateIf(ctx, row.id, [QUEUED], {
            deliveryId: answer.deliveryId,
            status: answer.status ?? 'ASSIGNED',
            driverId: 'driverId' in answer ? answer.driverId : null,
            distanceMeters: 'distanceMeters' in answer ? roundedMetres(answer.distanceMeters) : null,
            nextAttemptAt: null,
            lastError: null,
        });
        // A webhook may have come first and already moved the row on; it knows the delivery too.
        await this.connection.getRepository(ctx, DriverDelivery).update({ id: row.id, deliveryId: IsNull() }, { deliveryId: answer.deliveryId });
        // Cancelled while this send was on its way: a cancellation sent meanwhile may have found nothing to cancel.
        const after = await this.deliveries.findForOrder(ctx, row.orderId);
        if (after?.cancelRequestedAt) await this.sendCancel(ctx, after);
    }

    private async sendCancel(ctx: RequestContext, row: DriverDelivery): Promise<void> {
        await this.deliveries.update(ctx, row, { sendAttempts: row.sendAttempts + 1, nextAttemptAt: sendLease() });
        try {
            await sellerOrderCancelled(this.deliveries.serviceOptions, row.orderCode, 'order cancelled in Vendure');
        } catch (error) {
            if (!(error instanceof DriverServiceError)) throw error;
            if (error.retryable) return this.retryLater(ctx, row, error.message);
            if (error.code === 'DELIVERY_ALREADY_FINISHED') {
                await this.deliveries.update(ctx, row, { nextAttemptAt: null, lastError: error.message });
                await this.deliveries.note(ctx, row.orderId, 'the order was cancelled, but its delivery had already finished');
                return;
            }
            // DELIVERY_NOT_FOUND: the service has no live delivery of the order, so there is nothing to cancel.
            if (error.code !== 'DELIVERY_NOT_FOUND') throw error;
        }
        await this.connection
            .getRepository(ctx, DriverDelivery)
            .update({ id: row.id, status: Not(In([...SERVICE_FINAL_STATUSES])) }, { status: CANCELLED });
        await this.deliveries.update(ctx, row, { nextAttemptAt: null, lastError: null });
    }

    private async sendFailed(ctx: RequestContext, row: DriverDelivery, error: unknown): Promise<void> {
        if (!(error instanceof DriverServiceError)) throw error;
        if (error.retryable) return this.retryLater(ctx, row, error.message);
        // A final refusal (an invalid pickup point, a wrong secret): sending it again would not help.
        await this.deliveries.updateIf(ctx, row.id, [QUEUED], { status: NOT_DISPATCHED, nextAttemptAt: null, lastError: error.message });
        await this.deliveries.note(ctx, row.orderId, `not dispatched: ${error.message}`);
        Logger.error(`Order ${row.orderCode} not dispatched: ${error.message}`, loggerCtx);
    }

    /** Sends again after a wait that grows with each send, up to `maxAttempts` sends. */
    private async retryLater(ctx: RequestContext, row: DriverDelivery, reason: string): Promise<void> {
        const fresh = (await this.deliveries.findForOrder(ctx, row.orderId)) ?? row;
        const sendingReady = !fresh.cancelRequestedAt && fresh.status === QUEUED;
        if (fresh.sendAttempts >= this.schedule.maxAttempts) {
            await this.deliveries.update(ctx, fresh, { ...(sendingReady ? { status: NOT_DISPATCHED } : {}), nextAttemptAt: null, lastError: reason });
            const what = fresh.cancelRequestedAt ? 'the cancellation' : 'the order';
            await this.deliveries.note(ctx, fresh.orderId, `gave up sending ${what} after ${fresh.sendAttempts} sends: ${reason}`);
            return;
        }
        const nextAttemptAt = new Date(Date.now() + retryDelayMs(this.schedule, fresh.sendAttempts));
        await this.deliveries.update(ctx, fresh, { ...(sendingReady ? { status: RETRYING } : {}), nextAttemptAt, lastError: reason });
    }

    private async sellerChannel(order: Order) {
        const defaultChannel = await this.channelService.getDefaultChannel();
        return order.channels.find(channel => !idsAreEqual(channel.id, defaultChannel.id)) ?? defaultChannel;
    }

    private async dispatchOptions(ctx: RequestContext, order: Order): Promise<DispatchOptions> {
        const { dispatch } = this.options;
        const chosen = typeof dispatch === 'function' ? await dispatch(ctx, order) : dispatch;
        return {
            ...(chosen?.dispatchMode ? { dispatchMode: chosen.dispatchMode } : {}),
            ...(chosen?.maxWaitSeconds !== undefined ? { maxWaitSeconds: chosen.maxWaitSeconds } : {}),
        };
    }
}
