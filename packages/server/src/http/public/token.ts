/**
 * POST /oauth2/token (RFC 6749 §3.2, §5) as a pipeline of small named steps, in the spirit of
 * oidc-provider's lib/actions/token.js:
 *   readBackChannelForm → authenticateClient → (per-client rate limit) → supportedGrantType →
 *   allowedGrantType → grantParameters → handler.handle
 * The first two run as a preHandler so the rate limit can key on the *authenticated* client (an
 * unauthenticated client_id would let anyone exhaust another client's budget).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Clock } from '../../domain/clock.ts';
import { invalidRequest, OAuthError } from '../../domain/errors.ts';
import type { GrantRegistry } from '../../grants/registry.ts';
import type { GrantDeps, GrantHandler } from '../../grants/types.ts';
import type { AuthenticatedClient, ClientAuthenticator } from '../../services/client-auth.ts';
import type { FormParams } from '../form.ts';
import { authorizationHeader, backChannelErrorHandler, noStore, readBackChannelForm } from './back-channel.ts';

export const TOKEN_PATH = '/oauth2/token';

export interface TokenEndpointDeps {
  issuer: string;
  grants: GrantRegistry;
  grantDeps: GrantDeps;
  clientAuth: Pick<ClientAuthenticator, 'authenticate'>;
  clock: Clock;
  /** Token requests allowed per client per minute (config `rateLimit.tokenPerClient`). */
  perClientPerMinute: number;
}

interface TokenContext {
  params: FormParams;
  caller: AuthenticatedClient;
}

/** Parameters that belong to the endpoint itself rather than to a grant. */
const ENDPOINT_PARAMETERS = ['grant_type', 'client_id', 'client_secret', 'client_assertion', 'client_assertion_type'];

/** RFC 6749 §2.3 / §3.2.1: confidential clients authenticate; public ones identify themselves. */
function authenticateClient(request: FastifyRequest, params: FormParams, deps: TokenEndpointDeps): Promise<AuthenticatedClient> {
  return deps.clientAuth.authenticate({ authorization: authorizationHeader(request), params, endpoint: deps.issuer + TOKEN_PATH }, { allowPublic: true });
}

/** RFC 6749 §5.2 `unsupported_grant_type`: "not supported by the authorization server". */
function supportedGrantType(params: FormParams, grants: GrantRegistry): GrantHandler {
  const grantType = params.get('grant_type');
  if (grantType === undefined) throw invalidRequest('grant_type is required.');
  const handler = grants.lookup(grantType);
  if (!handler) throw new OAuthError('unsupported_grant_type', `The grant type "${grantType.slice(0, 100)}" is not supported.`);
  return handler;
}

/**
 * RFC 6749 §5.2 `unauthorized_client`: "The authenticated client is not authorized to use this
 * authorization grant type" — it is not among the client's registered grant_types (RFC 7591 §2), or
 * the grant needs a confidential client and this one is public.
 */
function allowedGrantType(caller: AuthenticatedClient, handler: GrantHandler): void {
  if (!caller.client.metadata.grant_types.includes(handler.grantType)) {
    throw new OAuthError('unauthorized_client', `This client is not allowed to use the ${handler.grantType} grant type.`);
  }
  if (handler.clientAuth === 'confidential' && caller.method === 'none') {
    throw new OAuthError('unauthorized_client', `The ${handler.grantType} grant type needs a confidential client.`);
  }
}

/** Strips everything the grant does not declare (its allow-list). */
function grantParameters(params: FormParams, handler: GrantHandler): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of handler.parameters) {
    if (ENDPOINT_PARAMETERS.includes(name)) continue;
    const value = params.get(name);
    if (value !== undefined) out.set(name, value);
  }
  return out;
}

export function tokenRoutes(app: FastifyInstance, deps: TokenEndpointDeps): void {
  const contexts = new WeakMap<FastifyRequest, TokenContext>();

  app.post(
    TOKEN_PATH,
    {
      errorHandler: backChannelErrorHandler(deps.issuer),
      preHandler: async (request, reply) => {
        noStore(reply);
        const params = readBackChannelForm(request);
        const caller = await authenticateClient(request, params, deps);
        contexts.set(request, { params, caller });
      },
      config: {
        rateLimit: {
          max: deps.perClientPerMinute,
          timeWindow: '1 minute',
          // Runs after the preHandler above (route hooks first), so the key is a verified client.
          hook: 'preHandler',
          keyGenerator: (request: FastifyRequest) => `token:${contexts.get(request)?.caller.client.clientId ?? request.ip}`,
          errorResponseBuilder: (_request, context) => new OAuthError('rate_limited', `Too many token requests for this client; retry in ${context.after}.`),
        },
      },
    },
    async (request, reply) => {
      const context = contexts.get(request);
      if (!context) throw new OAuthError('server_error', 'The request was not authenticated.');
      const { params, caller } = context;
      const handler = supportedGrantType(params, deps.grants);
      allowedGrantType(caller, handler);
      const response = await handler.handle(
        { client: caller.client, authMethod: caller.method, params: grantParameters(params, handler), now: deps.clock() },
        deps.grantDeps,
      );
      return reply.send(response);
    },
  );
}
