import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeFinishReason, FINISH_REASONS, isFinishReason, sessionEnd } from './session-end.ts';

test('every finish reason has an initiator and words for operators and users', () => {
  for (const [name, text] of Object.entries(FINISH_REASONS)) {
    assert.match(name, /^[a-z_]+$/);
    assert.ok(['admin', 'user', 'policy', 'system'].includes(text.initiator), name);
    assert.ok(text.admin.length > 0 && text.user.length > 0, name);
  }
});

test("sessionEnd takes the reason's initiator unless one is given", () => {
  assert.deepEqual(sessionEnd('idle_timeout'), { reason: 'idle_timeout', initiator: 'policy' });
  assert.deepEqual(sessionEnd('password_change', 'admin'), { reason: 'password_change', initiator: 'admin' });
});

test('stored names this build does not know still read well; the old name of the idle timeout maps to it', () => {
  assert.equal(isFinishReason('expired'), false);
  assert.equal(isFinishReason('toString'), false, 'no prototype keys');
  assert.equal(describeFinishReason('expired'), FINISH_REASONS.idle_timeout);
  assert.equal(describeFinishReason('from_the_future').initiator, 'system');
});
