import { wrapLon } from '../availability/geo.js';

/**
 * The grid waiting orders are indexed on, so that matching a driver against
 * them costs a few index probes however many orders wait: a pickup's cell is
 * stored with its delivery (`wait_cell`), and a driver looks only at the cells
 * its reach overlaps (`waiting_orders_near` in deliveries.sql). A cell is as
 * tall as the reach (ASSIGNMENT_MAX_RADIUS_KM), so a driver looks at 3 rows of
 * a few cells each, and most orders in them are in reach.
 */
const KM_PER_DEGREE = 111.195;
/** Rows of cells are numbered in steps of this, so that (row, column) is one integer. */
const ROW_FACTOR = 1_000_000;

export class WaitingGrid {
  /** Degrees per cell, in latitude and in longitude. */
  readonly step: number;

  constructor(readonly reachKm: number) {
    this.step = Math.max(reachKm / KM_PER_DEGREE, 0.001);
  }

  /** The cell of a point. */
  cellOf(lat: number, lon: number): number {
    return this.cell(Math.floor(lat / this.step), Math.floor(wrapLon(lon) / this.step));
  }

  /**
   * Every cell a circle of the reach around the point overlaps. Where the
   * circle holds a pole, that is every cell of its rows: many, but only there.
   */
  cellsAround(lat: number, lon: number): number[] {
    const dLat = this.reachKm / KM_PER_DEGREE;
    const south = Math.max(lat - dLat, -90);
    const north = Math.min(lat + dLat, 90);
    const widest = Math.max(Math.abs(south), Math.abs(north));
    const cos = Math.cos((widest * Math.PI) / 180);
    const dLon = cos * 360 <= 2 * dLat ? 180 : Math.min(dLat / cos, 180);
    const cells = new Set<number>();
    const lastCol = Math.floor(179.999999 / this.step);
    const firstCol = Math.floor(-180 / this.step);
    for (let row = Math.floor(south / this.step); row <= Math.floor(north / this.step); row++) {
      if (dLon >= 180) {
        for (let col = firstCol; col <= lastCol; col++) cells.add(this.cell(row, col));
        continue;
      }
      for (const [west, east] of lonSegments(wrapLon(lon) - dLon, wrapLon(lon) + dLon)) {
        for (let col = Math.floor(west / this.step); col <= Math.floor(east / this.step); col++) cells.add(this.cell(row, col));
      }
    }
    return [...cells];
  }

  private cell(row: number, col: number): number {
    return row * ROW_FACTOR + col;
  }
}

/** A longitude range that may cross the antimeridian, as ranges within [-180, 180). */
function lonSegments(west: number, east: number): Array<[number, number]> {
  if (west < -180)
    return [
      [west + 360, 179.999999],
      [-180, east],
    ];
  if (east >= 180)
    return [
      [west, 179.999999],
      [-180, east - 360],
    ];
  return [[west, east]];
}
