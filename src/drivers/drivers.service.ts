import { Injectable } from '@nestjs/common';
import { decodeCursor, toPage } from '../common/cursor.js';
import { isDatabaseUnavailable } from '../common/database-unavailable.js';
import { DomainError } from '../common/domain-error.js';
import { isUniqueViolation } from '../common/unique-violation.js';
import { DriverEntity, DriverStatus } from '../fleet/driver.entity.js';
import { newDriverToken } from '../auth/driver-token.js';
import { driverNotFound, FleetService } from '../fleet/fleet.service.js';
import { DriverTokenService } from '../auth/driver-token.service.js';
import { DriversRepository, ProfileChanges } from './drivers.repository.js';

const phoneTaken = () => new DomainError('DRIVER_PHONE_TAKEN', 'Another driver already has this phone number');

@Injectable()
export class DriversService {
  constructor(
    private readonly drivers: DriversRepository,
    private readonly tokens: DriverTokenService,
    private readonly fleet: FleetService,
  ) {}

  async create(input: { name: string; phone: string; vehicleType?: string }): Promise<{ driver: DriverEntity; token: string }> {
    const { token, hash } = newDriverToken();
    try {
      const driver = await this.drivers.insert({ ...input, vehicleType: input.vehicleType ?? null, tokenHash: hash });
      await this.fleet.saveProfile(driver);
      return { driver, token };
    } catch (error) {
      if (isUniqueViolation(error, 'drivers_phone_key')) throw phoneTaken();
      throw error;
    }
  }

  /**
   * The driver, with the newest location any process has answered for (read
   * your writes). While PostgreSQL cannot be reached, the driver as Redis
   * knows it (profile as last committed, state as last mirrored) stands in;
   * without it, the 503 stands.
   */
  async get(id: string): Promise<DriverEntity> {
    let driver: DriverEntity | null;
    try {
      driver = await this.drivers.findById(id);
    } catch (error) {
      if (!isDatabaseUnavailable(error)) throw error;
      driver = await this.fleet.lastKnown(id);
      if (!driver) throw error;
    }
    if (!driver) throw driverNotFound(id);
    return this.fleet.withNewestLocation(driver);
  }

  async list(query: { status?: DriverStatus; limit?: number; cursor?: string }) {
    const limit = query.limit ?? 50;
    const afterId = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    return toPage(await this.drivers.listPage({ status: query.status, afterId, limit }), limit);
  }

  /** Profile changes and (through the fleet) activation, in one transaction. */
  async update(id: string, changes: ProfileChanges & { isActive?: boolean }): Promise<DriverEntity> {
    const { isActive, ...profile } = changes;
    let driver: DriverEntity | null;
    try {
      driver = await this.fleet.transaction(
        async (tx) => {
          if (!(await this.drivers.updateProfile(tx.manager, id, profile))) return null;
          if (isActive !== undefined) await tx.setActive(id, isActive);
          return this.drivers.findById(id, tx.manager);
        },
        // This process refuses a deactivated driver's token from the commit on.
        (updated) => {
          if (updated && isActive !== undefined) this.tokens.forgetDriver(id);
        },
      );
    } catch (error) {
      if (isUniqueViolation(error, 'drivers_phone_key')) throw phoneTaken();
      throw error;
    }
    if (!driver) throw driverNotFound(id);
    await this.fleet.saveProfile(driver);
    return driver;
  }

  /** Issues a new token; every earlier token of the driver stops working. */
  async rotateToken(id: string): Promise<string> {
    const { token, hash } = newDriverToken();
    if (!(await this.drivers.replaceTokenHash(id, hash))) throw driverNotFound(id);
    this.tokens.forgetDriver(id);
    // The row's updated_at moved: so does the copy's.
    const driver = await this.drivers.findById(id).catch(() => null);
    if (driver) await this.fleet.saveProfile(driver);
    return token;
  }
}
