import { describe, expect, it } from '@jest/globals';
import { haversineMeters } from '../availability/geo.js';
import { WaitingGrid } from './waiting-grid.js';

/** A pseudo-random sequence, the same on every run. */
function* points(seed: number, count: number) {
  let x = seed;
  const next = () => (x = (x * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < count; i++) yield { lat: next() * 170 - 85, lon: next() * 360 - 180 };
}

describe('waiting-order grid', () => {
  it.each([100, 20, 5, 0.5])('the cells around a driver hold the cell of every pickup in its reach (%s km)', (reachKm) => {
    const grid = new WaitingGrid(reachKm);
    let checked = 0;
    for (const driver of points(reachKm * 7, 300)) {
      const around = new Set(grid.cellsAround(driver.lat, driver.lon));
      // Pickups at random bearings just inside the reach, and across the antimeridian.
      for (let k = 0; k < 16; k++) {
        const bearing = (k / 16) * 2 * Math.PI;
        const distanceDeg = (((reachKm * 0.999) / 111.195) * ((k % 4) + 1)) / 4;
        const lat = driver.lat + distanceDeg * Math.cos(bearing);
        const lon = driver.lon + (distanceDeg * Math.sin(bearing)) / Math.cos((lat * Math.PI) / 180);
        if (Math.abs(lat) > 90 || haversineMeters(driver.lat, driver.lon, lat, lon) > reachKm * 1000) continue;
        expect(around.has(grid.cellOf(lat, lon))).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(2_000);
  });

  it('looks at a handful of cells away from the poles, whatever the reach', () => {
    for (const reachKm of [100, 5]) {
      const grid = new WaitingGrid(reachKm);
      expect(grid.cellsAround(52.52, 13.405).length).toBeLessThanOrEqual(15);
      expect(grid.cellsAround(-33.9, 151.2).length).toBeLessThanOrEqual(15);
    }
  });

  it('puts a point and the same point a turn of the earth away in one cell', () => {
    const grid = new WaitingGrid(10);
    expect(grid.cellOf(10, 179.99)).toBe(grid.cellOf(10, -540.01));
    expect(grid.cellOf(10, 180)).toBe(grid.cellOf(10, -180));
  });
});
