import type { FastifyInstance } from 'fastify';
import type { AdminTokenVerifier } from '../../services/admin-token.ts';
import type { Actor } from '../../services/audit.ts';

/** RFC 6750 §2.1 bearer authentication for every admin route. */
export function adminAuth(app: FastifyInstance, verifier: AdminTokenVerifier): void {
  app.addHook('onRequest', async (request, reply) => {
    if (request.url.startsWith('/health/')) return;
    const header = request.headers.authorization;
    const match = header ? /^Bearer ([^\s]+)$/i.exec(header) : null;
    if (!match || !(await verifier.verify(match[1]))) {
      return reply
        .code(401)
        .header('WWW-Authenticate', match ? 'Bearer realm="latch-admin", error="invalid_token"' : 'Bearer realm="latch-admin"')
        .header('Cache-Control', 'no-store')
        .send({ error: 'unauthorized', error_description: 'A valid admin bearer token is required.' });
    }
  });
}

export const adminActor = (ip: string): Actor => ({ name: 'admin-api', sourceIp: ip });
