import { Inject, Injectable } from '@nestjs/common';
import { HistoryEntryType } from '@vendure/common/lib/generated-types';
import { HistoryService, ID, Order, RequestContext, TransactionalConnection } from '@vendure/core';
import { In } from 'typeorm';

import { DriverServiceOptions } from '../client/driver-service-client';
import { PLUGIN_OPTIONS, QUEUED } from '../constants';
import { DriverDelivery } from '../entities/driver-delivery.entity';
import { DriverIntegrationOptions } from '../types';

/** The service gives distances to the centimetre; the shop keeps whole metres (and whole seconds). */
export function roundedMetres(value: number | null | undefined): number | null {
    return typeof value === 'number' && Number.isFinite(value) ? Math.round(value) : null;
}
export const roundedSeconds = roundedMetres;

/** The owner of DriverDelivery rows: every change to one goes through here. */
@Injectable()
export class DriverDeliveryService {
    readonly serviceOptions: DriverServiceOptions;

    constructor(
        private connection: TransactionalConnection,
        private historyService: HistoryService,
        @Inject(PLUGIN_OPTIONS) options: DriverIntegrationOptions,
    ) {
        this.serviceOptions = {
            baseUrl: options.serviceUrl,
            secret: options.webhookSecret,
            adminApiKey: options.adminApiKey,
            timeoutMs: options.requestTimeoutMs,
        };
    }

    findForOrder(ctx: RequestContext, orderId: ID): Promise<DriverDelivery | null> {
        return this.connection.getRepository(ctx, DriverDelivery).findOne({ where: { orderId } });
    }

    findForOrders(ctx: RequestContext, orderIds: ID[]): Promise<DriverDelivery[]> {
        if (orderIds.length === 0) return Promise.resolve([]);
        return this.connection.getRepository(ctx, DriverDelivery).find({ where: { orderId: In(orderIds) }, order: { id: 'ASC' } });
    }

    /**
     * A new row for an order about to be dispatched, false when the order has
     * one already. `nextAttemptAt` is when the poller sends it if its job is lost.
     */
    async createQueued(ctx: RequestContext, order: Order, nextAttemptAt: Date | null = null): Promise<boolean> {
        const repository = this.connection.getRepository(ctx, DriverDelivery);
        if (await repository.findOne({ where: { orderId: order.id } })) return false;
        try {
            await repository.insert(new DriverDelivery({ orderId: order.id, orderCode: order.code, status: QUEUED, nextAttemptAt }));
            return true;
        } catch (error) {
            // The same order reported ready twice at once (an aggregate and its seller order): one row wins.
            if (await repository.findOne({ where: { orderId: order.id } })) return false;
            throw error;
        }
    }

    /**
     * Applies `changes` only while the row is still in one of `fromStatuses`:
     * a webhook that arrived first is newer than the answer being recorded.
     * Returns whether it applied.
     */
    async updateIf(ctx: RequestContext, id: ID, fromStatuses: string[], changes: Partial<DriverDelivery>): Promise<boolean> {
        const repository = this.connection.getRepository(ctx, DriverDelivery);
        const row = await repository.findOne({ where: { id } });
        if (!row || !fromStatuses.includes(row.status)) return false;
        await repository.update({ id, status: row.status }, changes);
        return true;
    }

    /**
     * Writes only the given columns: a whole-row save would put back a stale
     * value of a column another process changed meanwhile (a cancellation
     * requested while a webhook was being applied, say).
     */
    async update(ctx: RequestContext, row: DriverDelivery, changes: Partial<DriverDelivery>): Promise<DriverDelivery> {
        await this.connection.getRepository(ctx, DriverDelivery).update({ id: row.id }, changes);
        return Object.assign(row, changes);
    }

    /** An order history entry for staff (not shown to the customer). */
    async note(ctx: RequestContext, orderId: ID, note: string): Promise<void> {
        await this.historyService.createHistoryEntryForOrder(
            { ctx, orderId, type: HistoryEntryType.ORDER_NOTE, data: { note: `Driver service: ${note}` } },
            false,
        );
    }
}
