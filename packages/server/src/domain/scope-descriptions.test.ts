import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeScope } from './scope-descriptions.ts';

const configured = {
  'read:{resource}': 'Read {resource}',
  'read:project:{resource}': 'Read project {resource}',
  'files:{resource}:write': 'Change files in {resource}',
  'write:all': 'Change everything',
  email: 'Know your email',
};

test('exact keys, patterns with the resource filled in (most specific wins), built-ins, verbatim', () => {
  assert.equal(describeScope('write:all', configured).text, 'Change everything');
  assert.equal(describeScope('read:syn123', configured).text, 'Read syn123');
  assert.equal(describeScope('read:project:x1', configured).text, 'Read project x1');
  assert.equal(describeScope('files:docs:write', configured).text, 'Change files in docs');
  assert.equal(describeScope('read:', configured).text, undefined, 'an empty resource does not match');
  assert.equal(describeScope('openid', configured).text, 'Sign you in with your account');
  assert.equal(describeScope('offline_access', {}).text, 'Keep access when you are not using it');
  assert.equal(describeScope('email', configured).text, 'Know your email', 'configuration overrides built-ins');
  assert.deepEqual(describeScope('custom:thing', configured), { scope: 'custom:thing', text: undefined });
  assert.equal(describeScope('constructor', {}).text, undefined, 'no prototype lookups');
});
