/**
 * POST /oauth2/token (RFC 6749 §3.2, §5) as a pipeline of small named steps, in the spirit of
 * oidc-provider's lib/actions/token.js:
 *   (form checks) → authenticateClient → withinBudget → supportedGrantType → allowedGrantType →
 *   grantParameters → handler.handle
 * The per-client rate limit runs after authentication so it keys on the *verified* client (an
 * unauthenticated client_id would let anyone exhaust another client's budget).
 */
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../domain/clock.ts';
import { invalidRequest, OAuthError } from '../../domain/errors.ts';
import type { GrantRegistry } from '../../grants/registry.ts';
import type { GrantDeps, GrantHandler } from '../../grants/types.ts';
import type { AuthenticatedClient, ClientAuthenticator } from '../../services/client-auth.ts';
import type { RequestBudget } from '../../services/request-budget.ts';
import type { BackChannelHandler, BackChannelRequest, DirectLane } from '../direct.ts';
import type { FormParams } from '../form.ts';
import { backChannelRoute } from './back-channel.ts';

export const TOKEN_PATH = '/oauth2/token';

export interface TokenEndpointDeps {
  issuer: string;
  grants: GrantRegistry;
  grantDeps: GrantDeps;
  clientAuth: Pick<ClientAuthenticator, 'authenticate'>;
  clock: Clock;
  /** Token requests per client (config `rateLimit.tokenPerClient`, per minute). */
  budget: RequestBudget;
}

/** Parameters that belong to the endpoint itself rather than to a grant. */
const ENDPOINT_PARAMETERS = ['grant_type', 'client_id', 'client_secret', 'client_assertion', 'client_assertion_type'];

/** RFC 6749 §2.3 / §3.2.1: confidential clients authenticate; public ones identify themselves. */
function authenticateClient({ params, authorization }: BackChannelRequest, deps: TokenEndpointDeps): Promise<AuthenticatedClient> {
  return deps.clientAuth.authenticate({ authorization, params, endpoint: deps.issuer + TOKEN_PATH }, { allowPublic: true });
}

/** 429 with Retry-After once the client has spent its budget for the current window. */
async function withinBudget(caller: AuthenticatedClient, budget: RequestBudget): Promise<void> {
  const wait = await budget.take(`token:${caller.client.clientId}`);
  if (wait > 0) throw new OAuthError('rate_limited', `Too many token requests for this client; retry in ${wait} seconds.`, { retryAfter: wait });
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

export function tokenEndpoint(deps: TokenEndpointDeps): BackChannelHandler {
  return async (request) => {
    const caller = await authenticateClient(request, deps);
    await withinBudget(caller, deps.budget);
    const handler = supportedGrantType(request.params, deps.grants);
    allowedGrantType(caller, handler);
    return handler.handle(
      { client: caller.client, authMethod: caller.method, params: grantParameters(request.params, handler), now: deps.clock() },
      deps.grantDeps,
    );
  };
}

export function tokenRoutes(app: FastifyInstance, deps: TokenEndpointDeps, lane?: DirectLane): void {
  backChannelRoute(app, TOKEN_PATH, deps.issuer, tokenEndpoint(deps), lane);
}
