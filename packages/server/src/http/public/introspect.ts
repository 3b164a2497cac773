/**
 * POST /oauth2/introspect (RFC 7662 §2). The caller must authenticate with a credential (§2.1: "the
 * endpoint MUST also require some form of authorization"); public clients cannot introspect.
 */
import type { FastifyInstance } from 'fastify';
import { invalidRequest } from '../../domain/errors.ts';
import type { ClientAuthenticator } from '../../services/client-auth.ts';
import { type IntrospectionDeps, introspect } from '../../services/introspection.ts';
import { authorizationHeader, backChannelErrorHandler, noStore, readBackChannelForm } from './back-channel.ts';

export const INTROSPECTION_PATH = '/oauth2/introspect';

export interface IntrospectionEndpointDeps extends IntrospectionDeps {
  clientAuth: Pick<ClientAuthenticator, 'authenticate'>;
}

export function introspectionRoutes(app: FastifyInstance, deps: IntrospectionEndpointDeps): void {
  const endpoint = deps.issuer + INTROSPECTION_PATH;
  app.post(INTROSPECTION_PATH, { errorHandler: backChannelErrorHandler(deps.issuer) }, async (request, reply) => {
    noStore(reply);
    const params = readBackChannelForm(request);
    const caller = await deps.clientAuth.authenticate({ authorization: authorizationHeader(request), params, endpoint }, { allowPublic: false });
    const token = params.get('token');
    if (token === undefined) throw invalidRequest('token is required.');
    return reply.send(await introspect(deps, caller.client, token));
  });
}
