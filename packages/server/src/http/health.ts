import type { FastifyInstance } from 'fastify';

/** Liveness says the process runs; readiness says it can reach its database. */
export function healthRoutes(app: FastifyInstance, deps: { ping: () => Promise<void> }): void {
  app.get('/health/live', async (_req, reply) => reply.header('Cache-Control', 'no-store').send({ status: 'ok' }));
  app.get('/health/ready', async (request, reply) => {
    try {
      await deps.ping();
      return reply.header('Cache-Control', 'no-store').send({ status: 'ok', database: 'ok' });
    } catch (err) {
      request.log.warn({ err: (err as Error).message }, 'readiness check failed');
      // Same error code as every other endpoint that loses its database (docs/architecture.md §7).
      return reply
        .code(503)
        .header('Cache-Control', 'no-store')
        .header('Retry-After', '1')
        .send({ status: 'unavailable', database: 'unreachable', error: 'temporarily_unavailable', error_description: 'The database is unreachable.' });
    }
  });
}
