import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, Repository } from 'typeorm';
import { DriverEntity, DriverStatus } from '../fleet/driver.entity.js';

export interface NewDriver {
  name: string;
  phone: string;
  vehicleType: string | null;
  tokenHash: string;
}

/** What an operator may change of a driver's profile (its state is the fleet's: see FleetService). */
export type ProfileChanges = Partial<Pick<DriverEntity, 'name' | 'phone' | 'vehicleType'>>;

@Injectable()
export class DriversRepository {
  constructor(@InjectRepository(DriverEntity) private readonly repository: Repository<DriverEntity>) {}

  async insert(driver: NewDriver): Promise<DriverEntity> {
    const [row] = (await this.repository.createQueryBuilder().insert().values(driver).returning('id').execute()).generatedMaps as Array<{
      id: string;
    }>;
    return this.getById(row.id);
  }

  findById(id: string, manager?: EntityManager): Promise<DriverEntity | null> {
    return (manager ?? this.repository.manager).findOneBy(DriverEntity, { id });
  }

  private async getById(id: string): Promise<DriverEntity> {
    const driver = await this.findById(id);
    if (!driver) throw new Error(`Driver ${id} vanished after a write`);
    return driver;
  }

  /**
   * One page in creation order, keyset-paginated: `afterId` is the last
   * driver of the previous page. Returns `limit + 1` rows at most so the
   * caller can tell whether another page follows.
   */
  listPage(options: { status?: DriverStatus; afterId?: string; limit: number }): Promise<DriverEntity[]> {
    const query = this.repository
      .createQueryBuilder('d')
      .orderBy('d.createdAt', 'ASC')
      .addOrderBy('d.id', 'ASC')
      .limit(options.limit + 1);
    if (options.status) query.andWhere('d.status = :status', { status: options.status });
    if (options.afterId) {
      query.andWhere('(d.created_at, d.id) > (SELECT c.created_at, c.id FROM drivers c WHERE c.id = :afterId)', {
        afterId: options.afterId,
      });
    }
    return query.getMany();
  }

  /** Applies the changes, in the caller's transaction; false when there is no such driver. */
  async updateProfile(manager: EntityManager, id: string, changes: ProfileChanges): Promise<boolean> {
    const defined = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined));
    const result = await manager.update(DriverEntity, { id }, { ...defined, updatedAt: () => 'now()' });
    return (result.affected ?? 0) > 0;
  }

  async replaceTokenHash(id: string, tokenHash: string): Promise<boolean> {
    const result = await this.repository.update({ id }, { tokenHash, updatedAt: () => 'now()' });
    return (result.affected ?? 0) > 0;
  }
}
