/**
 * Fixtures for notes-api against the real composed Latch server (packages/server/test/support):
 * the API's client registered through the admin API, devices signed in by redeeming stored
 * authorization codes, and a poll of the API until Latch's end of a session shows there.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createIntrospector } from '@latch/resource-server';
import { issueCode, REDIRECT_URI, tokenRequest } from '../../../packages/server/test/e2e/token/helpers.ts';
import { freePort, type TestLatch } from '../../../packages/server/test/support/latch.ts';
import { createNotesApi, type NotesApi, type NotesApiOptions } from '../src/app.ts';

export interface NotesClient {
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
  [member: string]: unknown;
}

export interface RunningNotes {
  api: NotesApi;
  url: string;
  client: NotesClient;
  purged: { deviceKey: string | undefined; sid: string | undefined; notes: number; reason: string; at: number }[];
  close(): Promise<void>;
}

/**
 * notes-api on a free port, its client at Latch registered with a back-channel logout URI pointing
 * at it (the API is the OIDC client whose tokens it serves).
 */
export async function startNotes(t: TestLatch, options: Partial<NotesApiOptions> = {}, metadata: Record<string, unknown> = {}): Promise<RunningNotes> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const res = await t.admin<NotesClient>('POST', '/admin/v1/clients', {
    client_name: 'Notes',
    redirect_uris: [REDIRECT_URI],
    grant_types: ['authorization_code', 'refresh_token'],
    scope: 'openid read:notes write:notes',
    backchannel_logout_uri: `${url}/backchannel-logout`,
    ...metadata,
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const client = res.body;
  const dir = mkdtempSync(join(tmpdir(), 'notes-api-'));
  const purged: RunningNotes['purged'] = [];
  const api = await createNotesApi({
    introspector: createIntrospector({ issuer: t.issuer, client: { clientId: client.client_id, clientSecret: client.client_secret } }),
    database: join(dir, 'notes.db'),
    onPurged: (event, notes) => purged.push({ deviceKey: event.deviceKey, sid: event.sid, notes, reason: event.reason, at: Date.now() }),
    ...options,
  });
  await api.app.listen({ host: '127.0.0.1', port });
  return {
    api,
    url,
    client,
    purged,
    async close() {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Device {
  accessToken: string;
  refreshToken: string;
}

/** A device signs in: a stored authorization code redeemed at the token endpoint (a new session). */
export async function signIn(t: TestLatch, client: NotesClient, userId: string): Promise<Device> {
  const code = await issueCode(t, { clientId: client.client_id, userId, scope: ['openid', 'read:notes', 'write:notes'], now: Date.now() });
  const res = await tokenRequest(t, client, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI });
  assert.equal(res.status, 200, res.text);
  return { accessToken: res.body.access_token as string, refreshToken: res.body.refresh_token as string };
}

export async function refresh(t: TestLatch, client: NotesClient, device: Device): Promise<Device> {
  const res = await tokenRequest(t, client, { grant_type: 'refresh_token', refresh_token: device.refreshToken });
  assert.equal(res.status, 200, res.text);
  return { accessToken: res.body.access_token as string, refreshToken: res.body.refresh_token as string };
}

export async function listNotes(notes: RunningNotes, device: Device): Promise<{ status: number; texts: string[] }> {
  const res = await fetch(`${notes.url}/notes`, { headers: { authorization: `Bearer ${device.accessToken}` } });
  const body = (await res.json()) as { notes?: { text: string }[] };
  return { status: res.status, texts: (body.notes ?? []).map((n) => n.text) };
}

export async function addNote(notes: RunningNotes, device: Device, text: string): Promise<void> {
  const res = await fetch(`${notes.url}/notes`, {
    method: 'POST',
    headers: { authorization: `Bearer ${device.accessToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  assert.equal(res.status, 201, await res.text());
}

/**
 * Calls GET /notes as a client would, back to back, until it answers 401; returns the time from
 * `since` (when Latch answered the request that ended the session) to that first 401.
 */
export async function untilUnauthorized(notes: RunningNotes, device: Device, since: number, timeoutMs = 10_000): Promise<number> {
  for (;;) {
    const res = await fetch(`${notes.url}/notes`, { headers: { authorization: `Bearer ${device.accessToken}` } });
    await res.arrayBuffer();
    if (res.status === 401) return Date.now() - since;
    assert.equal(res.status, 200);
    if (Date.now() - since > timeoutMs) assert.fail(`still ${res.status} ${timeoutMs} ms after the session ended`);
  }
}
