import { describe, expect, it } from '@jest/globals';
import { judgePoint } from './location-filter.js';

const LIMITS = { maxAccuracyMeters: 100, maxSpeedKmh: 250 };
const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1, 12, 0, seconds));
const BERLIN = { lat: 52.52, lon: 13.405, recordedAt: at(0) };

describe(judgePoint.name, () => {
  it('moves the driver for a first point, and for a plausible one', () => {
    expect(judgePoint({ ...BERLIN, accuracy: 5 }, null, LIMITS)).toBe('moved');
    // About 1 km in 20 s: 180 km/h.
    expect(judgePoint({ lat: 52.529, lon: 13.405, recordedAt: at(20) }, BERLIN, LIMITS)).toBe('moved');
  });

  it('ignores a point worse than the accuracy limit, even the first', () => {
    expect(judgePoint({ ...BERLIN, accuracy: 100.5 }, null, LIMITS)).toBe('accuracy');
    expect(judgePoint({ ...BERLIN, accuracy: 100 }, null, LIMITS)).toBe('moved');
  });

  it('ignores a jump over the speed limit, and any move at the same instant', () => {
    // About 1 km in 10 s: 360 km/h.
    expect(judgePoint({ lat: 52.529, lon: 13.405, recordedAt: at(10) }, BERLIN, LIMITS)).toBe('speed');
    expect(judgePoint({ lat: 52.5201, lon: 13.405, recordedAt: at(0) }, BERLIN, LIMITS)).toBe('speed');
    // The same spot again is no move at all.
    expect(judgePoint({ ...BERLIN }, BERLIN, LIMITS)).toBe('moved');
  });

  it('calls a point older than the stored one older, before judging its speed', () => {
    expect(judgePoint({ lat: 60, lon: 13.405, recordedAt: at(-1) }, BERLIN, LIMITS)).toBe('older');
  });

  it('applies no limit that is 0', () => {
    const off = { maxAccuracyMeters: 0, maxSpeedKmh: 0 };
    expect(judgePoint({ lat: 60, lon: 13.405, recordedAt: at(1), accuracy: 5_000 }, BERLIN, off)).toBe('moved');
  });
});
