import type { FastifyInstance } from 'fastify';
import type { KeyStore } from '../../crypto/keys.ts';
import { JWKS_MAX_AGE_SECONDS, JWKS_STALE_SECONDS } from '../../domain/key-timing.ts';
import type { DiscoveryRegistry } from '../discovery-registry.ts';

export const JWKS_PATH = '/oauth2/keys.json';

/**
 * RFC 8414 §3 and OIDC Discovery 1.0 §4: both documents carry the same metadata; `issuer` is
 * exactly the configured issuer. The JWKS may be cached briefly: new keys are published as `next`
 * well before they sign (see crypto/keys.ts), so a short max-age never hides a signing key.
 */
export function wellKnownRoutes(app: FastifyInstance, deps: { issuer: string; discovery: DiscoveryRegistry; keys: KeyStore }): void {
  deps.discovery.add({ issuer: deps.issuer, jwks_uri: `${deps.issuer}${JWKS_PATH}` });
  let cached: string | undefined;
  const body = () => (cached ??= JSON.stringify(deps.discovery.document()));
  const send = (_req: unknown, reply: import('fastify').FastifyReply) =>
    reply.header('Cache-Control', 'public, max-age=300').header('Access-Control-Allow-Origin', '*').type('application/json').send(body());
  app.get('/.well-known/openid-configuration', send);
  app.get('/.well-known/oauth-authorization-server', send);
  app.get(JWKS_PATH, async (_req, reply) => {
    const jwks = await deps.keys.jwks();
    return reply
      .header('Cache-Control', `public, max-age=${JWKS_MAX_AGE_SECONDS}, stale-while-revalidate=${JWKS_STALE_SECONDS}`)
      .header('Access-Control-Allow-Origin', '*')
      .type('application/jwk-set+json')
      .send(jwks);
  });
}
