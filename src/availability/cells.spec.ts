import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { cellToBoundary, cellToLatLng, getPentagons } from 'h3-js';
import { CELL_RESOLUTION, cellOf, cellsWithin } from './cells.js';
import { EARTH_RADIUS_METERS, haversineMeters, toRadians, wrapLon } from './geo.js';

const toDegrees = (radians: number) => (radians * 180) / Math.PI;

/** The point `meters` from (lat, lon) on the initial bearing `bearing` (degrees), on the sphere haversine uses. */
function destination(lat: number, lon: number, meters: number, bearing: number): { lat: number; lon: number } {
  const d = meters / EARTH_RADIUS_METERS;
  const [φ1, λ1, θ] = [toRadians(lat), toRadians(lon), toRadians(bearing)];
  const φ2 = Math.asin(Math.min(1, Math.max(-1, Math.sin(φ1) * Math.cos(d) + Math.cos(φ1) * Math.sin(d) * Math.cos(θ))));
  const λ2 = λ1 + Math.atan2(Math.sin(θ) * Math.sin(d) * Math.cos(φ1), Math.cos(d) - Math.sin(φ1) * Math.sin(φ2));
  return { lat: toDegrees(φ2), lon: wrapLon(toDegrees(λ2)) };
}

/** The initial bearing from one point to another, degrees. */
function bearing(from: { lat: number; lon: number }, to: { lat: number; lon: number }): number {
  const [φ1, φ2, Δλ] = [toRadians(from.lat), toRadians(to.lat), toRadians(to.lon - from.lon)];
  return toDegrees(Math.atan2(Math.sin(Δλ) * Math.cos(φ2), Math.cos(φ1) * Math.sin(φ2) - Math.sin(φ1) * Math.cos(φ2) * Math.cos(Δλ)));
}

/**
 * A number spread evenly over [min, max] (fast-check's doubles crowd near 0
 * and the bounds, which would leave most circles a few millimetres wide).
 */
const even = (min: number, max: number) => fc.integer({ min: 0, max: 1_000_000 }).map((i) => min + ((max - min) * i) / 1_000_000);

/** Centres anywhere (evenly over the sphere), and many where planar shortcuts break: the antimeridian, the poles, H3's pentagons. */
const pentagons = getPentagons(CELL_RESOLUTION).map((cell) => cellToLatLng(cell));
const centre = fc.oneof(
  fc.record({ lat: even(-1, 1).map((z) => toDegrees(Math.asin(z))), lon: even(-180, 180) }),
  fc.record({ lat: even(-80, 80), lon: fc.oneof(even(179.5, 180), even(-180, -179.5)) }),
  fc.record({ lat: fc.oneof(even(89, 90), even(-90, -89)), lon: even(-180, 180) }),
  fc
    .record({ pentagon: fc.constantFrom(...pentagons), dLat: even(-0.02, 0.02), dLon: even(-0.02, 0.02) })
    .map(({ pentagon: [lat, lon], dLat, dLon }) => ({ lat: Math.max(-90, Math.min(90, lat + dLat)), lon: wrapLon(lon + dLon) })),
);

const cells = (lat: number, lon: number, radius: number) => cellsWithin(lat, lon, radius).map(({ cell }) => cell);

describe(cellsWithin.name, () => {
  it('holds the cell of every point within the radius, anywhere on earth', () => {
    fc.assert(
      fc.property(centre, even(0, 30_000), even(0, 1), even(0, 360), ({ lat, lon }, radius, fraction, bearing) => {
        const target = destination(lat, lon, radius * fraction, bearing);
        fc.pre(haversineMeters(lat, lon, target.lat, target.lon) <= radius);
        expect(cells(lat, lon, radius)).toContain(cellOf(target.lat, target.lon));
      }),
      { numRuns: 500 },
    );
  });

  it('holds a cell the circle only grazes at a corner', () => {
    fc.assert(
      fc.property(centre, fc.nat(), even(1, 20_000), even(-60, 60), ({ lat, lon }, corner, radius, spread) => {
        // A point just inside a corner of some cell, and a search centre `radius` away from it, outwards.
        const cell = cellOf(lat, lon);
        const [centreLat, centreLon] = cellToLatLng(cell);
        const boundary = cellToBoundary(cell);
        const [vertexLat, vertexLon] = boundary[corner % boundary.length];
        const inside = destination(
          vertexLat,
          vertexLon,
          1,
          bearing({ lat: vertexLat, lon: vertexLon }, { lat: centreLat, lon: centreLon }),
        );
        fc.pre(cellOf(inside.lat, inside.lon) === cell);
        const outwards = bearing(inside, { lat: centreLat, lon: centreLon }) + 180 + spread;
        const search = destination(inside.lat, inside.lon, radius, outwards);
        fc.pre(haversineMeters(search.lat, search.lon, inside.lat, inside.lon) <= radius);
        expect(cells(search.lat, search.lon, radius)).toContain(cell);
      }),
      { numRuns: 500 },
    );
  });

  it('holds, for a wide radius, every cell a point on the circle falls in', () => {
    const [lat, lon] = [-16.5, 179.9];
    const radius = 100_000;
    const cells = new Set(cellsWithin(lat, lon, radius).map(({ cell }) => cell));
    for (let bearing = 0; bearing < 360; bearing += 0.5) {
      for (const fraction of [0.25, 0.5, 0.75, 0.999]) {
        const point = destination(lat, lon, radius * fraction, bearing);
        expect(cells.has(cellOf(point.lat, point.lon))).toBe(true);
      }
    }
  });

  it('lists the cells nearest first, each no nearer than its nearest point', () => {
    fc.assert(
      fc.property(centre, even(0, 5_000), even(0, 360), ({ lat, lon }, radius, bearing) => {
        const cover = cellsWithin(lat, lon, radius);
        expect(cover[0]).toEqual({ cell: cellOf(lat, lon), nearestMeters: 0 });
        for (let i = 1; i < cover.length; i++) expect(cover[i].nearestMeters).toBeGreaterThanOrEqual(cover[i - 1].nearestMeters);
        // A point within the radius lies in a cell listed no nearer than it is.
        const point = destination(lat, lon, radius * 0.999, bearing);
        const distance = haversineMeters(lat, lon, point.lat, point.lon);
        fc.pre(distance <= radius);
        const found = cover.find(({ cell }) => cell === cellOf(point.lat, point.lon));
        expect(found?.nearestMeters).toBeLessThanOrEqual(distance);
        // Every cell's bound lies between its nearest vertex and twice the cell's reach short of it.
        for (const { cell, nearestMeters } of cover) {
          const [centreLat, centreLon] = cellToLatLng(cell);
          const vertices = cellToBoundary(cell);
          const reach = Math.max(...vertices.map(([vLat, vLon]) => haversineMeters(centreLat, centreLon, vLat, vLon)));
          const nearestVertex = Math.min(...vertices.map(([vLat, vLon]) => haversineMeters(lat, lon, vLat, vLon)));
          expect(nearestMeters).toBeLessThanOrEqual(nearestVertex);
          expect(nearestMeters).toBeGreaterThanOrEqual(nearestVertex - 2 * reach - 0.02);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('refuses a radius that is not a finite number ≥ 0', () => {
    for (const radius of [Number.NaN, Number.POSITIVE_INFINITY, -1]) expect(() => cellsWithin(52.52, 13.405, radius)).toThrow(RangeError);
  });

  it('reads across the antimeridian', () => {
    const cells = cellsWithin(0, 179.99, 5_000).map(({ cell }) => cell);
    expect(cells).toContain(cellOf(0, -179.99));
    expect(cells).toContain(cellOf(0, 179.99));
  });

  it('reads the point’s own cell for a zero radius, and few more where a search starts', () => {
    expect(cellsWithin(52.52, 13.405, 0)).toEqual([{ cell: cellOf(52.52, 13.405), nearestMeters: 0 }]);
    expect(cellsWithin(52.52, 13.405, 200).length).toBeLessThanOrEqual(3);
    // A 10 km circle is 314 km², 61 cells' worth (5.16 km² each): the cover adds a ring of partly covered ones, no more.
    const wide = cellsWithin(52.52, 13.405, 10_000).length;
    expect(wide).toBeGreaterThanOrEqual(61);
    expect(wide).toBeLessThanOrEqual(120);
  });
});
