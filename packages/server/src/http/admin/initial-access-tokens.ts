import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../domain/clock.ts';
import { notFound, OAuthError } from '../../domain/errors.ts';
import { initialAccessTokenView, type RegistrationService, readInitialAccessTokenInput } from '../../services/registration.ts';
import { FormParams } from '../form.ts';
import { adminActor } from './auth.ts';

const idParams = { type: 'object', properties: { id: { type: 'integer', minimum: 1, maximum: 9007199254740991 } }, required: ['id'] } as const;

/**
 * Initial access tokens for dynamic client registration (RFC 7591 §3, policy `initial_access_token`).
 * The token is returned once, by the create call; only its SHA-256 is stored.
 */
export function adminInitialAccessTokenRoutes(app: FastifyInstance, deps: { registration: RegistrationService; clock: Clock }): void {
  app.post('/admin/v1/initial-access-tokens', async (request, reply) => {
    if (request.body instanceof FormParams) throw new OAuthError('invalid_request', 'Content-Type must be application/json.', { extra: { status: 415 } });
    const input = readInitialAccessTokenInput(request.body);
    const { token, record } = await deps.registration.createInitialAccessToken(input, adminActor(request.ip));
    return reply
      .code(201)
      .header('Location', `/admin/v1/initial-access-tokens/${record.id}`)
      .header('Cache-Control', 'no-store')
      .send(initialAccessTokenView(record, deps.clock(), token));
  });

  app.get('/admin/v1/initial-access-tokens', async () => {
    const now = deps.clock();
    return { initial_access_tokens: (await deps.registration.listInitialAccessTokens()).map((t) => initialAccessTokenView(t, now)) };
  });

  app.delete<{ Params: { id: number } }>('/admin/v1/initial-access-tokens/:id', { schema: { params: idParams } }, async (request, reply) => {
    const result = await deps.registration.revokeInitialAccessToken(request.params.id, adminActor(request.ip));
    if (result === 'not_found') throw notFound('Initial access token');
    // Revoking an already revoked token is a no-op (DELETE is idempotent).
    return reply.code(204).send();
  });
}
