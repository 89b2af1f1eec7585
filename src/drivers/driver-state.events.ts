import { Injectable } from '@nestjs/common';
import type { DriverEntity } from './driver.entity.js';

export type DriverStateListener = (driver: DriverEntity) => Promise<void>;

/**
 * Tells the parts that mirror a driver's state (the Redis availability model)
 * that PostgreSQL's state changed. Listeners are awaited, so the mirror is up
 * to date before the HTTP answer goes out; they must not throw.
 */
@Injectable()
export class DriverStateEvents {
  private readonly listeners: DriverStateListener[] = [];

  subscribe(listener: DriverStateListener): void {
    this.listeners.push(listener);
  }

  async changed(driver: DriverEntity): Promise<void> {
    for (const listener of this.listeners) await listener(driver);
  }
}
