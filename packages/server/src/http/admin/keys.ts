/**
 * Admin API for signing keys: list, rotate (publish a `next` key), promote (the `next` key signs,
 * the old one retires). See oidc/key-rotation.ts for the why of two steps.
 */
import type { FastifyInstance } from 'fastify';
import { SIGNING_ALGS, type SigningAlg } from '../../crypto/keys.ts';
import type { KeyRotation } from '../../oidc/key-rotation.ts';
import { adminActor } from './auth.ts';

const algBody = {
  body: {
    anyOf: [{ type: 'null' }, { type: 'object', properties: { alg: { type: 'string', enum: [...SIGNING_ALGS] } }, additionalProperties: false }],
  },
} as const;

const algsOf = (body: { alg?: SigningAlg } | null | undefined): readonly SigningAlg[] => (body?.alg ? [body.alg] : SIGNING_ALGS);

export function adminKeyRoutes(app: FastifyInstance, deps: { rotation: KeyRotation }): void {
  app.get('/admin/v1/keys', async () => ({ keys: await deps.rotation.list() }));

  app.post<{ Body: { alg?: SigningAlg } | null }>('/admin/v1/keys/rotate', { schema: algBody }, async (request, reply) => {
    const created = await deps.rotation.rotate(adminActor(request.ip), algsOf(request.body));
    return reply.code(created.length ? 201 : 200).send({ created, keys: await deps.rotation.list() });
  });

  app.post<{ Body: { alg?: SigningAlg } | null }>('/admin/v1/keys/promote', { schema: algBody }, async (request) => {
    const { promoted, warning } = await deps.rotation.promote(adminActor(request.ip), algsOf(request.body));
    return { promoted, keys: await deps.rotation.list(), ...(warning ? { warning } : {}) };
  });
}
