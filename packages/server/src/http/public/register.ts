/**
 * RFC 7591 client registration endpoint and RFC 7592 client configuration endpoint.
 * Thin: parse the bearer token and JSON body, call services/registration.ts, shape the response.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type Client, needsSecret } from '../../domain/client.ts';
import { OAuthError } from '../../domain/errors.ts';
import type { RegistrationService } from '../../services/registration.ts';
import type { DiscoveryRegistry } from '../discovery-registry.ts';
import { FormParams } from '../form.ts';
// RFC 7591 §3.2.1: "Cache-Control: no-store" and "Pragma: no-cache" (the response carries credentials).
import { noStore } from './back-channel.ts';

export const REGISTRATION_PATH = '/oauth2/register';

/**
 * RFC 6750 §2.1: `Authorization: Bearer <b64token>`. Returns undefined when there is no
 * Authorization header and '' when there is one that is not a well-formed bearer credential
 * (which then fails like a wrong token).
 */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
  return match ? (match[1] as string) : '';
}

/**
 * RFC 6750 §3: a 401 carries a Bearer challenge; §3.1: "If the request lacks any authentication
 * information … the resource server SHOULD NOT include an error code", otherwise `invalid_token`.
 */
async function challengeOnInvalidToken<T>(reply: FastifyReply, realm: string, presented: boolean, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof OAuthError && err.code === 'invalid_token') {
      reply.header(
        'WWW-Authenticate',
        presented ? `Bearer realm="${realm}", error="invalid_token", error_description="${err.description.replace(/["\\]/g, '')}"` : `Bearer realm="${realm}"`,
      );
    }
    throw err;
  }
}

/** RFC 7591 §3: "a content type of application/json". Form bodies are the one other type this server parses. */
function jsonBody(request: FastifyRequest): unknown {
  if (request.body instanceof FormParams) {
    throw new OAuthError('invalid_request', 'Content-Type must be application/json (RFC 7591 §3).', { extra: { status: 415 } });
  }
  return request.body;
}

/**
 * RFC 7591 §3.2.1 / RFC 7592 §3 client information response: client_id, the secret when one was
 * just issued (shown once; only its hash is kept), the registration access token and the client
 * configuration endpoint, then every registered metadata value. Latch's admin-only fields stay out.
 */
export function clientInformation(issuer: string, client: Client, extra: { clientSecret?: string | undefined; registrationAccessToken: string }) {
  return {
    client_id: client.clientId,
    ...(extra.clientSecret ? { client_secret: extra.clientSecret } : {}),
    client_id_issued_at: Math.floor(client.createdAt / 1000),
    // "REQUIRED if client_secret is issued … 0 if it will not expire": Latch secrets do not expire.
    ...(needsSecret(client.metadata.token_endpoint_auth_method) ? { client_secret_expires_at: 0 } : {}),
    registration_access_token: extra.registrationAccessToken,
    registration_client_uri: `${issuer}${REGISTRATION_PATH}/${encodeURIComponent(client.clientId)}`,
    ...client.metadata,
  };
}

export interface RegistrationRouteDeps {
  registration: RegistrationService;
  issuer: string;
  discovery: DiscoveryRegistry;
  /** Registration requests allowed per IP address per minute (config `rateLimit.registerPerIp`). */
  perIpPerMinute: number;
}

export function registrationRoutes(app: FastifyInstance, deps: RegistrationRouteDeps): void {
  const { registration, issuer } = deps;
  // RFC 8414 §2: advertised only when registration is possible.
  if (registration.policy !== 'disabled') deps.discovery.add({ registration_endpoint: `${issuer}${REGISTRATION_PATH}` });

  // Each registration writes a client row, so one address cannot flood the table (RFC 7591 §5
  // leaves defences against malicious registrants to the server). Counted before the body is read;
  // every attempt counts, refused ones included. 429 + Retry-After, as at the token endpoint.
  const rateLimit = {
    max: deps.perIpPerMinute,
    timeWindow: '1 minute',
    keyGenerator: (request: FastifyRequest) => `register:${request.ip}`,
    errorResponseBuilder: (_request: FastifyRequest, context: { after: string }) =>
      new OAuthError('rate_limited', `Too many registration requests from this address; retry in ${context.after}.`),
  };

  app.post(REGISTRATION_PATH, { config: { rateLimit } }, async (request, reply) => {
    const token = bearerToken(request);
    const created = await challengeOnInvalidToken(reply, issuer, token !== undefined, () => registration.register(jsonBody(request), token, request.ip));
    return noStore(reply)
      .code(201)
      .send(clientInformation(issuer, created.client, created));
  });

  type Managed = { Params: { client_id: string } };
  /** RFC 7592 §2: every operation needs the registration access token as a bearer token. */
  const managed = async <T>(request: FastifyRequest<Managed>, reply: FastifyReply, work: (clientId: string, token: string) => Promise<T>) => {
    const token = bearerToken(request);
    return challengeOnInvalidToken(reply, issuer, token !== undefined, async () => {
      if (token === undefined) throw new OAuthError('invalid_token', 'A registration access token is required: Authorization: Bearer <token>.');
      return work(request.params.client_id, token);
    });
  };

  app.get<Managed>(`${REGISTRATION_PATH}/:client_id`, async (request, reply) => {
    const client = await managed(request, reply, (id, token) => registration.read(id, token));
    return noStore(reply).send(clientInformation(issuer, client, { registrationAccessToken: bearerToken(request) as string }));
  });

  app.put<Managed>(`${REGISTRATION_PATH}/:client_id`, async (request, reply) => {
    const updated = await managed(request, reply, (id, token) => registration.update(id, token, jsonBody(request), request.ip));
    return noStore(reply).send(clientInformation(issuer, updated.client, { ...updated, registrationAccessToken: bearerToken(request) as string }));
  });

  app.delete<Managed>(`${REGISTRATION_PATH}/:client_id`, async (request, reply) => {
    await managed(request, reply, (id, token) => registration.remove(id, token, request.ip));
    // RFC 7592 §2.3: "204 No Content".
    return noStore(reply).code(204).send();
  });
}
