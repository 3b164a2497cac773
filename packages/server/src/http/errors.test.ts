import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OAuthError } from '../domain/errors.ts';
import { isDatabaseUnavailable, toOAuthError } from './errors.ts';

const withCode = (message: string, code?: string) => Object.assign(new Error(message), code ? { code } : {});

describe('database unavailable -> temporarily_unavailable (503), never server_error', () => {
  test('driver errors that mean "not reachable right now"', () => {
    const unavailable = [
      withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'),
      withCode('read ECONNRESET', 'ECONNRESET'),
      withCode('terminating connection due to administrator command', '57P01'),
      withCode('the database system is starting up', '57P03'),
      withCode('sorry, too many clients already', '53300'),
      withCode('database is locked', 'SQLITE_BUSY'),
      new Error('Connection terminated unexpectedly'),
      new Error('timeout exceeded when trying to connect'),
      new Error('Client has encountered a connection error and is not queryable'),
      new Error('Client was closed and is not queryable'),
      new TypeError('The database connection is not open'),
    ];
    for (const err of unavailable) {
      assert.equal(isDatabaseUnavailable(err), true, err.message);
      const mapped = toOAuthError(err);
      assert.equal(mapped.code, 'temporarily_unavailable', err.message);
    }
  });

  test('other errors are not mistaken for an outage', () => {
    for (const err of [withCode('duplicate key value violates unique constraint', '23505'), new Error('boom'), withCode('syntax error', '42601')]) {
      assert.equal(isDatabaseUnavailable(err), false, err.message);
      assert.equal(toOAuthError(err).code, 'server_error');
    }
    assert.equal(isDatabaseUnavailable(undefined), false);
    const oauth = new OAuthError('invalid_request', 'x');
    assert.equal(toOAuthError(oauth), oauth);
  });
});
