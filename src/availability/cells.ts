import { cellToBoundary, cellToLatLng, gridDisk, latLngToCell } from 'h3-js';
import { haversineMeters } from './geo.js';

/**
 * The H3 resolution of the availability index's cells: 5.2 km² a cell on
 * average (edges of 1.4 km), so that one city spreads over hundreds of cells,
 * and so evenly over the shards of a Redis Cluster, while a search near the
 * point reads a few (`BENCH_FIGURES=cells`; the figures and the reasoning:
 * docs/design-notes.md, "Sharding the availability index").
 */
export const CELL_RESOLUTION = 7;

/** The cell a point is in. */
export const cellOf = (lat: number, lon: number, resolution = CELL_RESOLUTION): string => latLngToCell(lat, lon, resolution);

/**
 * What the cover needs of a cell: its centre, its reach (how far a point of
 * it can be from the centre, metres: its farthest vertex, plus a hair for
 * floating-point rounding; a cell's edges are great-circle arcs and every
 * point of it is seen from its centre within its boundary, so no point lies
 * farther than a vertex, the vertices H3 adds where a cell bends over an
 * icosahedron face's edge included) and its neighbours. Kept for the cells in
 * use, as H3 takes microseconds to compute them: at most MAX_SHAPES, about
 * 9 MB.
 */
interface CellShape {
  lat: number;
  lon: number;
  reach: number;
  neighbours: string[];
}

const MAX_SHAPES = 20_000;
const shapes = new Map<string, CellShape>();

function shapeOf(cell: string): CellShape {
  let shape = shapes.get(cell);
  if (shape) return shape;
  const [lat, lon] = cellToLatLng(cell);
  let farthest = 0;
  for (const [vertexLat, vertexLon] of cellToBoundary(cell)) farthest = Math.max(farthest, haversineMeters(lat, lon, vertexLat, vertexLon));
  shape = { lat, lon, reach: farthest * 1.000_001 + 0.01, neighbours: gridDisk(cell, 1).filter((other) => other !== cell) };
  if (shapes.size >= MAX_SHAPES) shapes.clear();
  shapes.set(cell, shape);
  return shape;
}

/** A cell of a cover, and how near the searched point a point of it may be (0 for the point's own cell), metres. */
export interface NearCell {
  cell: string;
  nearestMeters: number;
}

/**
 * The cells that may hold a point within `radiusMeters` of (lat, lon): every
 * cell holding such a point is in the list, and the others in it are
 * near the circle's edge. A flood fill from the point's own cell, keeping
 * a cell when the circle may reach it (its centre within the radius plus
 * its reach) and looking on from the cells kept: the cells a great circle
 * from the point to any point within the radius crosses are all kept and
 * each is a neighbour of the one before, so none is missed. It needs no
 * planar geometry, so it holds across the antimeridian, at the poles and
 * around H3's pentagons. Nearest first: a search can stop reading cells
 * once the next one lies beyond the candidates it has. The cover grows with
 * the radius squared: 30 cells within 5 km at resolution 7, 7,034 within
 * 100 km.
 */
export function cellsWithin(lat: number, lon: number, radiusMeters: number, resolution = CELL_RESOLUTION): NearCell[] {
  // NaN or Infinity would flood the globe; a negative radius would drop the point's own cell.
  if (!Number.isFinite(radiusMeters) || radiusMeters < 0)
    throw new RangeError(`radiusMeters must be a finite number ≥ 0, not ${radiusMeters}`);
  const origin = latLngToCell(lat, lon, resolution);
  const seen = new Set([origin]);
  const kept: NearCell[] = [];
  const next = [origin];
  for (let cell = next.pop(); cell !== undefined; cell = next.pop()) {
    const shape = shapeOf(cell);
    const nearestMeters = cell === origin ? 0 : Math.max(0, haversineMeters(lat, lon, shape.lat, shape.lon) - shape.reach);
    if (nearestMeters > radiusMeters) continue;
    kept.push({ cell, nearestMeters });
    for (const neighbour of shape.neighbours) {
      if (seen.has(neighbour)) continue;
      seen.add(neighbour);
      next.push(neighbour);
    }
  }
  return kept.sort((a, b) => a.nearestMeters - b.nearestMeters);
}
