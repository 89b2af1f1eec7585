import { Transform } from 'class-transformer';

/** A number from a query string; an empty value is not a number (`Number('')` would be 0). */
export const QueryNumber = () =>
  Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? (value.trim() === '' ? Number.NaN : Number(value)) : value));
