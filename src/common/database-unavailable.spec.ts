import { describe, expect, it } from '@jest/globals';
import { QueryFailedError, QueryRunnerAlreadyReleasedError, QueryRunnerProviderAlreadyReleasedError } from 'typeorm';
import { isDatabaseUnavailable } from './database-unavailable.js';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe(isDatabaseUnavailable.name, () => {
  it.each([
    ['connection refused', withCode('ECONNREFUSED')],
    ['connection reset', withCode('ECONNRESET')],
    ['admin shutdown (57P01)', withCode('57P01')],
    ['cannot connect now (57P03)', withCode('57P03')],
    ['connection failure (08006)', withCode('08006')],
    ['pool connect timeout', new Error('timeout exceeded when trying to connect')],
    ['query read timeout', new Error('Query read timeout')],
    ['terminated connection', new Error('Connection terminated unexpectedly')],
    ['wrapped by TypeORM', new QueryFailedError('SELECT 1', [], withCode('ECONNREFUSED'))],
    ['an error from another realm', { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' }],
    ['a transaction whose connection died between statements', new QueryRunnerAlreadyReleasedError()],
    ['the same, seen by the entity manager', new QueryRunnerProviderAlreadyReleasedError()],
  ])('is true for %s', (_case, error) => {
    expect(isDatabaseUnavailable(error)).toBe(true);
  });

  it.each([
    ['a unique violation', new QueryFailedError('INSERT', [], withCode('23505'))],
    ['a syntax error', withCode('42601')],
    ['a plain bug', new TypeError('undefined is not a function')],
    ['nothing', undefined],
  ])('is false for %s', (_case, error) => {
    expect(isDatabaseUnavailable(error)).toBe(false);
  });
});
