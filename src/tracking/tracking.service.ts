import { Injectable } from '@nestjs/common';
import type { Principal } from '../auth/principal.js';
import { DomainError } from '../common/domain-error.js';
import { AppConfig } from '../config/app-config.js';
import { EtaEstimator, etasOf, nextTrip, pointOf } from '../eta/eta.js';
import type { TrackingLinkDto, TrackingViewDto } from './dto/tracking.response.js';
import { TrackedDelivery, TrackingRepository } from './tracking.repository.js';
import { isTrackingToken, randomTrackingToken, SignedLinkTokens, trackingTokenHash } from './tracking-token.js';

/** A driver's position is shown only while the driver is on the way. */
const ON_THE_WAY: ReadonlySet<string> = new Set(['ASSIGNED', 'PICKED_UP']);

const firstName = (name: string) => name.trim().split(/\s+/)[0] ?? '';

/** A link that resolved: its delivery, and the hash that names the link (for per-link limits). */
export interface ResolvedLink {
  tokenHash: string;
  delivery: TrackedDelivery;
}

/** Tracking links: who may make one, what one shows. */
@Injectable()
export class TrackingService {
  private readonly signedTokens?: SignedLinkTokens;

  constructor(
    private readonly config: AppConfig,
    private readonly links: TrackingRepository,
    private readonly eta: EtaEstimator,
  ) {
    if (config.vendureWebhookSecret) this.signedTokens = new SignedLinkTokens(config.vendureWebhookSecret);
  }

  /**
   * A new link to the delivery (admin, or a Vendure-signed request: the same
   * message always gets the same link). 404 for an unknown delivery, 409 for
   * one whose links would already have expired.
   */
  async createLink(deliveryId: string, principal: Principal): Promise<TrackingLinkDto> {
    const token =
      principal.kind === 'vendure' && this.signedTokens
        ? this.signedTokens.tokenFor(principal.messageId, deliveryId)
        : randomTrackingToken();
    const added = await this.links.addLink(trackingTokenHash(token), deliveryId, principal.kind, this.config.trackingLinkTtlSeconds);
    if (!added) throw new DomainError('DELIVERY_NOT_FOUND', 'No delivery with this id');
    const expiresAt = added.endedAt ? new Date(added.endedAt.getTime() + this.config.trackingLinkTtlSeconds * 1000) : null;
    if (expiresAt && expiresAt.getTime() <= Date.now()) {
      throw new DomainError(
        'DELIVERY_ALREADY_FINISHED',
        'The delivery ended longer ago than TRACKING_LINK_TTL_SECONDS: a link would not work',
      );
    }
    return { token, url: `${this.config.publicBaseUrl}/track/${token}/page`, expiresAt: expiresAt?.toISOString() ?? null };
  }

  /** The link's delivery; 404 TRACKING_LINK_NOT_FOUND for a malformed, unknown or expired token. */
  async resolve(token: string): Promise<ResolvedLink> {
    const tokenHash = trackingTokenHash(token);
    const delivery = isTrackingToken(token) ? await this.links.findByToken(tokenHash, this.config.trackingLinkTtlSeconds) : undefined;
    if (!delivery) throw new DomainError('TRACKING_LINK_NOT_FOUND', 'No tracking link with this token, or it has expired');
    return { tokenHash, delivery };
  }

  /** What the customer sees of a delivery (GET /track/:token), ETA included. */
  async view(delivery: TrackedDelivery): Promise<TrackingViewDto> {
    const position = this.positionOf(delivery);
    const [etaSeconds] = await this.etaSeconds([delivery]);
    const updatedAt = position && delivery.lastLocationAt! > delivery.updatedAt ? delivery.lastLocationAt! : delivery.updatedAt;
    return {
      status: delivery.status,
      driver: delivery.driverName === null ? null : { name: firstName(delivery.driverName), vehicleType: delivery.vehicleType },
      position: position && { ...position, recordedAt: position.recordedAt.toISOString() },
      etaSeconds,
      pickup: { lat: delivery.pickupLat, lon: delivery.pickupLon },
      dropoff: pointOf(delivery.dropoffLat, delivery.dropoffLon),
      updatedAt: updatedAt.toISOString(),
    };
  }

  /** The driver's position, while on the way and known. */
  positionOf(delivery: TrackedDelivery): { lat: number; lon: number; recordedAt: Date } | null {
    if (!ON_THE_WAY.has(delivery.status) || delivery.lastLat === null || delivery.lastLon === null || !delivery.lastLocationAt) return null;
    return { lat: delivery.lastLat, lon: delivery.lastLon, recordedAt: delivery.lastLocationAt };
  }

  /** Each delivery's ETA (null when not on the way, or with nowhere to go). */
  async etaSeconds(deliveries: TrackedDelivery[]): Promise<Array<number | null>> {
    const trips = deliveries.map((delivery) =>
      nextTrip(
        delivery.status,
        this.positionOf(delivery),
        { lat: delivery.pickupLat, lon: delivery.pickupLon },
        pointOf(delivery.dropoffLat, delivery.dropoffLon),
        delivery.vehicleType,
      ),
    );
    // An estimator that fails or is slow (a routing engine) leaves the ETA unknown; the view and the streams go on.
    return etasOf(this.eta, trips).catch(() => trips.map(() => null));
  }
}
