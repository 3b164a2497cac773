/**
 * Plain node:http: check a request's token, and handlers for the push and back-channel logout
 * endpoints. The express adapter builds on these (express requests and responses are node's).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BackchannelLogoutReceiver } from '../backchannel-logout.ts';
import type { Guard, GuardResult, RouteRequirements } from '../guard.ts';
import type { ActivePrincipal } from '../principal.ts';
import { MAX_SET_BYTES, type Receiver } from '../ssf/receiver.ts';

type Params = { get(name: string): string | null };

/** The form fields of an already parsed body (express.urlencoded gives an object). */
function formOf(body: unknown): Params | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  if (body instanceof URLSearchParams) return body;
  const record = body as Record<string, unknown>;
  return { get: (name) => (typeof record[name] === 'string' ? (record[name] as string) : null) };
}

export function checkRequest(guard: Guard, req: IncomingMessage & { body?: unknown }, requirements?: RouteRequirements): Promise<GuardResult> {
  return guard.check(
    {
      authorization: req.headers.authorization,
      query: guard.readsQuery ? new URL(req.url ?? '/', 'http://localhost').searchParams : undefined,
      form: guard.readsForm ? formOf(req.body) : undefined,
    },
    requirements,
  );
}

export function sendJson(res: ServerResponse, status: number, headers: Record<string, string>, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { ...(text && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}), ...headers });
  res.end(text);
}

/**
 * Checks the bearer token of `req` against `requirements`. Returns the principal, or answers the
 * request (401 / 403 / 503 with WWW-Authenticate as RFC 6750 §3 says) and returns undefined.
 */
export async function authenticate(
  guard: Guard,
  req: IncomingMessage,
  res: ServerResponse,
  requirements?: RouteRequirements,
): Promise<ActivePrincipal | undefined> {
  const result = await checkRequest(guard, req, requirements);
  if (result.ok) return result.principal;
  sendJson(res, result.status, result.headers, result.body);
  return undefined;
}

export class BodyTooLarge extends Error {}

/** Reads a request body up to `limit` bytes (a body already read by a framework is used as is). */
export async function readBody(req: IncomingMessage & { body?: unknown }, limit: number): Promise<string | Buffer> {
  if (typeof req.body === 'string' || Buffer.isBuffer(req.body)) return req.body;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new BodyTooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** A node:http handler for the RFC 8935 push endpoint. */
export function pushHandler(receiver: Receiver): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    let body: string | Buffer;
    try {
      body = await readBody(req, MAX_SET_BYTES);
    } catch {
      return sendJson(res, 400, {}, { err: 'invalid_request', description: 'The SET is too large.' });
    }
    const reply = await receiver.handlePush({ contentType: req.headers['content-type'], authorization: req.headers.authorization, body });
    sendJson(res, reply.status, reply.headers, reply.body);
  };
}

/** A node:http handler for the OIDC back-channel logout endpoint. */
export function backchannelLogoutHandler(receiver: BackchannelLogoutReceiver): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    let body: string | Buffer;
    try {
      body = await readBody(req, 64 * 1024);
    } catch {
      return sendJson(res, 400, {}, { error: 'invalid_request', error_description: 'The request is too large.' });
    }
    const reply = await receiver.handle({ contentType: req.headers['content-type'], body });
    sendJson(res, reply.status, reply.headers, reply.body);
  };
}
