/**
 * Admin API for signing keys: list, rotate (publish a `next` key), promote (the `next` key signs,
 * the old one retires). See oidc/key-rotation.ts for the why of two steps.
 */
import type { FastifyInstance } from 'fastify';
import { SIGNING_ALGS, type SigningAlg } from '../../crypto/keys.ts';
import { type KeyRotation, MIN_PROMOTE_AFTER_SECONDS } from '../../oidc/key-rotation.ts';
import { adminActor } from './auth.ts';

const algBody = {
  body: {
    anyOf: [{ type: 'null' }, { type: 'object', properties: { alg: { type: 'string', enum: [...SIGNING_ALGS] } }, additionalProperties: false }],
  },
} as const;

const algsOf = (body: { alg?: SigningAlg } | null | undefined): readonly SigningAlg[] => (body?.alg ? [body.alg] : SIGNING_ALGS);

export function adminKeyRoutes(app: FastifyInstance, deps: { rotation: KeyRotation; clock: () => number }): void {
  app.get('/admin/v1/keys', async () => ({ keys: await deps.rotation.list() }));

  app.post<{ Body: { alg?: SigningAlg } | null }>('/admin/v1/keys/rotate', { schema: algBody }, async (request, reply) => {
    const created = await deps.rotation.rotate(adminActor(request.ip), algsOf(request.body));
    return reply.code(created.length ? 201 : 200).send({ created, keys: await deps.rotation.list() });
  });

  app.post<{ Body: { alg?: SigningAlg } | null }>('/admin/v1/keys/promote', { schema: algBody }, async (request) => {
    const algs = algsOf(request.body);
    const before = await deps.rotation.list();
    const now = deps.clock();
    // A key promoted before verifiers refreshed their cached JWKS may briefly fail to verify there.
    const young = before.filter((k) => k.state === 'next' && algs.includes(k.alg) && now - Date.parse(k.created_at) < MIN_PROMOTE_AFTER_SECONDS * 1000);
    const promoted = await deps.rotation.promote(adminActor(request.ip), algs);
    return {
      promoted,
      keys: await deps.rotation.list(),
      ...(young.length && promoted.length
        ? { warning: `${young.map((k) => k.kid).join(', ')} had been published for less than ${MIN_PROMOTE_AFTER_SECONDS} s (the JWKS cache lifetime)` }
        : {}),
    };
  });
}
