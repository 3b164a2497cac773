/**
 * POST /oauth2/introspect (RFC 7662 §2). The caller must authenticate with a credential (§2.1: "the
 * endpoint MUST also require some form of authorization"); public clients cannot introspect.
 */
import type { FastifyInstance } from 'fastify';
import { invalidRequest } from '../../domain/errors.ts';
import type { ClientAuthenticator } from '../../services/client-auth.ts';
import { type IntrospectionDeps, introspect } from '../../services/introspection.ts';
import type { BackChannelHandler, DirectLane } from '../direct.ts';
import { backChannelRoute } from './back-channel.ts';

export const INTROSPECTION_PATH = '/oauth2/introspect';

export interface IntrospectionEndpointDeps extends IntrospectionDeps {
  clientAuth: Pick<ClientAuthenticator, 'authenticate'>;
}

export function introspectionEndpoint(deps: IntrospectionEndpointDeps): BackChannelHandler {
  const endpoint = deps.issuer + INTROSPECTION_PATH;
  return async ({ params, authorization }) => {
    const caller = await deps.clientAuth.authenticate({ authorization, params, endpoint }, { allowPublic: false });
    const token = params.get('token');
    if (token === undefined) throw invalidRequest('token is required.');
    return introspect(deps, caller.client, token);
  };
}

export function introspectionRoutes(app: FastifyInstance, deps: IntrospectionEndpointDeps, lane?: DirectLane): void {
  backChannelRoute(app, INTROSPECTION_PATH, deps.issuer, introspectionEndpoint(deps), lane);
}
