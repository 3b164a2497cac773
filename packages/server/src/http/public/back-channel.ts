/**
 * Steps shared by the back-channel endpoints (token, introspection, revocation): form bodies only,
 * each parameter at most once and of bounded size, responses never cached, and errors as RFC 6749
 * §5.2 JSON. Each step is a small named function so a stack trace reads like the spec.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { invalidRequest } from '../../domain/errors.ts';
import type { BackChannelHandler, DirectLane } from '../direct.ts';
import { errorHandler } from '../errors.ts';
import { FormParams } from '../form.ts';

/** Longest accepted value per parameter; a signed client assertion gets more room. */
export const MAX_PARAM_LENGTH = 4096;
export const MAX_PARAM_LENGTH_BY_NAME: Readonly<Record<string, number>> = { client_assertion: 16 * 1024 };
export const MAX_PARAMS = 32;

/** RFC 6749 §3.2 / RFC 7662 §2.1 / RFC 7009 §2.1: parameters come form-encoded in the body. */
function requireFormBody(request: FastifyRequest): FormParams {
  const body = request.body;
  if (body instanceof FormParams) return body;
  if (body === undefined || body === null) throw invalidRequest('The request body must be application/x-www-form-urlencoded parameters.');
  throw invalidRequest('The request body must be application/x-www-form-urlencoded, not JSON.');
}

/** RFC 6749 §3.2: "Request and response parameters MUST NOT be included more than once." */
function rejectDuplicateParameters(params: FormParams): void {
  if (params.duplicates.length > 0) throw invalidRequest(`Parameters must not be repeated: ${params.duplicates.join(', ')}.`);
}

function rejectOversizedParameters(params: FormParams): void {
  const keys = params.keys();
  if (keys.length > MAX_PARAMS) throw invalidRequest(`Too many parameters (at most ${MAX_PARAMS}).`);
  for (const key of keys) {
    if (key.length > 100) throw invalidRequest('A parameter name is too long.');
    const limit = MAX_PARAM_LENGTH_BY_NAME[key] ?? MAX_PARAM_LENGTH;
    if ((params.get(key)?.length ?? 0) > limit) throw invalidRequest(`${key} is too long (at most ${limit} characters).`);
  }
}

/** The checks every back-channel form passes, whichever lane it came by (http/direct.ts). */
export function checkBackChannelForm(params: FormParams): void {
  rejectDuplicateParameters(params);
  rejectOversizedParameters(params);
}

/** The form-body checks in order. */
function readBackChannelForm(request: FastifyRequest): FormParams {
  const params = requireFormBody(request);
  checkBackChannelForm(params);
  return params;
}

/**
 * The fastify route for a back-channel endpoint, with the same handler the direct lane uses, so
 * requests fastify gets (a query string, another media type, shutdown) are judged the same way.
 */
export function backChannelRoute(app: FastifyInstance, path: string, realm: string, handle: BackChannelHandler, lane: DirectLane | undefined): void {
  lane?.add(path, handle, checkBackChannelForm);
  app.post(path, { errorHandler: backChannelErrorHandler(realm) }, async (request, reply) => {
    noStore(reply);
    const params = readBackChannelForm(request);
    return reply.send(await handle({ params, authorization: authorizationHeader(request) }));
  });
}

/** The Authorization header as sent (undefined when absent). */
function authorizationHeader(request: FastifyRequest): string | undefined {
  const h = request.headers.authorization;
  return typeof h === 'string' ? h : undefined;
}

/**
 * RFC 6749 §5.1: "Cache-Control: no-store" and "Pragma: no-cache" on every response, errors included:
 * the handlers call this first, and `backChannelErrorHandler` does for every error (a route hook
 * would cost a hook run per request on the hot paths).
 */
export function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('Cache-Control', 'no-store').header('Pragma', 'no-cache');
}

/**
 * The shared error mapping, except that a body of the wrong media type is an RFC 6749 §5.2
 * `invalid_request` with status 400 like any other malformed request (not a bare 415).
 */
function backChannelErrorHandler(realm: string) {
  const shared = errorHandler(realm);
  return (err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    noStore(reply);
    const code = (err as FastifyError | undefined)?.code;
    if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') {
      return shared(invalidRequest('The request body must be application/x-www-form-urlencoded parameters.'), request, reply);
    }
    return shared(err, request, reply);
  };
}
