import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { StrictValidationPipe } from '../common/validation.pipe.js';
import { isPlainValidBatch, isPlainValidLocation, LocationBatchDto, UpdateLocationDto } from './dto/update-location.dto.js';

const pipe = new StrictValidationPipe();
const acceptedByDto = (body: unknown) =>
  pipe.transform(body, { type: 'body', metatype: UpdateLocationDto }).then(
    () => true,
    () => false,
  );

const number = fc.oneof(
  fc.double(),
  fc.integer({ min: -400, max: 400 }),
  fc.constantFrom(-90, 90, -180, 180, 0, 150, 360, 100_000, -0.0001),
);
const iso = fc
  .date({ min: new Date('1990-01-01T00:00:00Z'), max: new Date(Date.now() + 3_600_000), noInvalidDate: true })
  .map((date) => date.toISOString());
const value = fc.oneof(
  number,
  fc.string(),
  fc.constant(null),
  fc.boolean(),
  iso,
  fc.constantFrom('2026-02-30T10:00:00Z', '2026-01-01T10:00:00', '2026-01-01'),
);
const key = fc.constantFrom('lat', 'lon', 'accuracy', 'heading', 'speed', 'recordedAt', 'status', 'driverId', 'constructor', 'toString');

/** What phones send: lat and lon, sometimes accuracy, heading, speed and when the point was taken. */
const ordinary = fc.record(
  {
    lat: fc.double({ min: -90, max: 90, noNaN: true }),
    lon: fc.double({ min: -180, max: 180, noNaN: true }),
    accuracy: fc.double({ min: 0, max: 100_000, noNaN: true }),
    heading: fc.double({ min: 0, max: 360, noNaN: true }),
    speed: fc.double({ min: 0, max: 150, noNaN: true }),
    recordedAt: fc.date({ min: new Date('2001-01-01T00:00:00Z'), max: new Date(), noInvalidDate: true }).map((d) => d.toISOString()),
  },
  { requiredKeys: ['lat', 'lon'] },
);

/** The location route's quick check passes only bodies the validation pipe would accept too. */
describe('location body: the quick check made from the rules', () => {
  it('passes only bodies UpdateLocationDto accepts (ordinary bodies with random fields laid over them)', async () => {
    let served = 0;
    await fc.assert(
      fc.asyncProperty(ordinary, fc.dictionary(key, value, { maxKeys: 3 }), async (base, overlay) => {
        const body = { ...base, ...overlay };
        if (!isPlainValidLocation(body)) return;
        served += 1;
        expect(await acceptedByDto(body)).toBe(true);
      }),
      { numRuns: 3_000 },
    );
    // Both outcomes were explored.
    expect(served).toBeGreaterThan(100);
    expect(served).toBeLessThan(2_900);
  });

  it('passes the ordinary bodies phones send', async () => {
    await fc.assert(
      fc.asyncProperty(ordinary, async (body) => {
        expect(isPlainValidLocation(body)).toBe(true);
        expect(await acceptedByDto(body)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it.each([
    ['null accuracy (the DTO allows it: left to the route)', { lat: 1, lon: 1, accuracy: null }],
    ['an unknown field', { lat: 1, lon: 1, status: 'AVAILABLE' }],
    ['an inherited name', JSON.parse('{"lat":1,"lon":1,"constructor":1}')],
    ['a date that does not exist', { lat: 1, lon: 1, recordedAt: '2026-02-30T10:00:00Z' }],
    ['a time without offset', { lat: 1, lon: 1, recordedAt: '2026-01-01T10:00:00' }],
    ['a point an hour ahead', { lat: 1, lon: 1, recordedAt: new Date(Date.now() + 3_600_000).toISOString() }],
    ['a latitude out of range', { lat: 91, lon: 1 }],
    ['a number as a string', { lat: '1', lon: 1 }],
    ['an array', [1, 2]],
  ])('leaves %s to the validation pipe', (_, body) => {
    expect(isPlainValidLocation(body)).toBe(false);
  });

  it('passes only batches LocationBatchDto accepts (ordinary points, some with random fields laid over them)', async () => {
    const batchAccepted = (body: unknown) =>
      new StrictValidationPipe().transform(body, { type: 'body', metatype: LocationBatchDto }).then(
        () => true,
        () => false,
      );
    const point = fc
      .tuple(ordinary, fc.dictionary(key, value, { maxKeys: 2 }), fc.boolean())
      .map(([base, overlay, plain]) => (plain ? { ...base } : { ...base, ...overlay }));
    let served = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(point, { minLength: 0, maxLength: 4 }), async (points) => {
        const body = { points };
        if (!isPlainValidBatch(body)) return;
        served += 1;
        // The pipe's own cheap path is what is under test here: validate in full, as if it had none.
        const original = LocationBatchDto.isPlainValid;
        try {
          (LocationBatchDto as { isPlainValid?: unknown }).isPlainValid = undefined;
          expect(await batchAccepted(body)).toBe(true);
        } finally {
          LocationBatchDto.isPlainValid = original;
        }
      }),
      { numRuns: 1_500 },
    );
    expect(served).toBeGreaterThan(50);
    expect(isPlainValidBatch({ points: [] })).toBe(false);
    expect(isPlainValidBatch({ points: [{ lat: 1, lon: 1 }] })).toBe(false);
    expect(isPlainValidBatch({ points: [[]] })).toBe(false);
  });
});
