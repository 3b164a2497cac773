/**
 * POST /oauth2/revoke (RFC 7009 §2). Confidential clients authenticate; public clients identify
 * themselves with client_id (§2.1 "validates the client credentials (in case of a confidential
 * client)"). The answer is 200 with an empty body whether or not anything was revoked (§2.2).
 */
import type { FastifyInstance } from 'fastify';
import { invalidRequest } from '../../domain/errors.ts';
import type { ClientAuthenticator } from '../../services/client-auth.ts';
import { type RevocationDeps, revokeToken } from '../../services/revocation.ts';
import { authorizationHeader, backChannelErrorHandler, noStore, readBackChannelForm } from './back-channel.ts';

export const REVOCATION_PATH = '/oauth2/revoke';

export interface RevocationEndpointDeps extends RevocationDeps {
  issuer: string;
  clientAuth: Pick<ClientAuthenticator, 'authenticate'>;
}

export function revocationRoutes(app: FastifyInstance, deps: RevocationEndpointDeps): void {
  const endpoint = deps.issuer + REVOCATION_PATH;
  app.post(REVOCATION_PATH, { errorHandler: backChannelErrorHandler(deps.issuer) }, async (request, reply) => {
    noStore(reply);
    const params = readBackChannelForm(request);
    const caller = await deps.clientAuth.authenticate({ authorization: authorizationHeader(request), params, endpoint }, { allowPublic: true });
    const token = params.get('token');
    if (token === undefined) throw invalidRequest('token is required.');
    await revokeToken(deps, caller.client, token);
    return reply.code(200).send();
  });
}
