/**
 * Admin API for the outbox (docs/architecture.md §4): what is waiting, what was delivered, what is dead, and a
 * way to send a dead event again once the receiver is fixed.
 */
import type { FastifyInstance } from 'fastify';
import { notFound, OAuthError } from '../../domain/errors.ts';
import type { OutboxEvent, OutboxRepository, OutboxStatus } from '../../storage/repositories.ts';
import { type PageQuery, pageQuerySchema } from './pagination.ts';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export const statusOf = (e: OutboxEvent): OutboxStatus => (e.deliveredAt !== null ? 'delivered' : e.deadAt !== null ? 'dead' : 'pending');

/** Wire view of an event (snake_case). The payload holds no secret: tokens are signed at delivery time. */
export function eventView(e: OutboxEvent) {
  return {
    id: e.id,
    kind: e.kind,
    target: e.target,
    status: statusOf(e),
    attempts: e.attempts,
    payload: e.payload,
    created_at: iso(e.createdAt),
    next_attempt_at: statusOf(e) === 'pending' ? iso(e.nextAttemptAt) : null,
    delivered_at: iso(e.deliveredAt),
    dead_at: iso(e.deadAt),
    last_error: e.lastError,
    locked_by: e.lockedBy,
  };
}

const idParams = { type: 'object', properties: { id: { type: 'integer', minimum: 1 } }, required: ['id'] } as const;

export function adminEventRoutes(app: FastifyInstance, deps: { outbox: OutboxRepository; clock: () => number; onRetry?: () => void }): void {
  app.get<{ Querystring: PageQuery & { status?: OutboxStatus; kind?: string } }>(
    '/admin/v1/events',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { ...pageQuerySchema, status: { type: 'string', enum: ['pending', 'delivered', 'dead'] }, kind: { type: 'string', maxLength: 100 } },
          additionalProperties: false,
        },
      },
    },
    async (request) => {
      const { limit = 50, cursor, status, kind } = request.query;
      const page = await deps.outbox.list({ limit, cursor, status, kind });
      return { events: page.items.map(eventView), next_cursor: page.nextCursor ?? null };
    },
  );

  app.get<{ Params: { id: number } }>('/admin/v1/events/:id', { schema: { params: idParams } }, async (request) => {
    const event = await deps.outbox.lookup(request.params.id);
    if (!event) throw notFound('Event');
    return eventView(event);
  });

  /** Sends a dead-lettered event again, with a fresh attempt budget. */
  app.post<{ Params: { id: number } }>('/admin/v1/events/:id/retry', { schema: { params: idParams } }, async (request) => {
    const { id } = request.params;
    if (!(await deps.outbox.retry(id, deps.clock()))) {
      const event = await deps.outbox.lookup(id);
      if (!event) throw notFound('Event');
      throw new OAuthError('conflict', `Only dead events can be retried; this one is ${statusOf(event)}.`);
    }
    deps.onRetry?.();
    return eventView((await deps.outbox.lookup(id)) as OutboxEvent);
  });
}
