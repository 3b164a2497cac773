/**
 * POST /oauth2/revoke (RFC 7009 §2). Confidential clients authenticate; public clients identify
 * themselves with client_id (§2.1 "validates the client credentials (in case of a confidential
 * client)"). The answer is 200 with an empty body whether or not anything was revoked (§2.2).
 */
import type { FastifyInstance } from 'fastify';
import { invalidRequest } from '../../domain/errors.ts';
import type { ClientAuthenticator } from '../../services/client-auth.ts';
import { type RevocationDeps, revokeToken } from '../../services/revocation.ts';
import type { BackChannelHandler } from '../direct.ts';
import { backChannelRoute } from './back-channel.ts';

export const REVOCATION_PATH = '/oauth2/revoke';

export interface RevocationEndpointDeps extends RevocationDeps {
  issuer: string;
  clientAuth: Pick<ClientAuthenticator, 'authenticate'>;
}

export function revocationEndpoint(deps: RevocationEndpointDeps): BackChannelHandler {
  const endpoint = deps.issuer + REVOCATION_PATH;
  return async ({ params, authorization }) => {
    const caller = await deps.clientAuth.authenticate({ authorization, params, endpoint }, { allowPublic: true });
    const token = params.get('token');
    if (token === undefined) throw invalidRequest('token is required.');
    await revokeToken(deps, caller.client, token);
    // RFC 7009 §2.2: 200 with no content; fastify sends an empty body for undefined.
    return undefined;
  };
}

/** Fastify only: revocation is not busy enough for the direct lane, whose answers are JSON. */
export function revocationRoutes(app: FastifyInstance, deps: RevocationEndpointDeps): void {
  backChannelRoute(app, REVOCATION_PATH, deps.issuer, revocationEndpoint(deps), undefined);
}
