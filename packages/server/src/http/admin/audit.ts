import type { FastifyInstance } from 'fastify';
import type { AuditRepository } from '../../storage/repositories.ts';
import { type PageQuery, pageQuerySchema } from './pagination.ts';

export function adminAuditRoutes(app: FastifyInstance, deps: { audit: AuditRepository }): void {
  app.get<{ Querystring: PageQuery & { target_type?: string; target_id?: string; action?: string } }>(
    '/admin/v1/audit',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            ...pageQuerySchema,
            target_type: { type: 'string', maxLength: 50 },
            target_id: { type: 'string', maxLength: 100 },
            action: { type: 'string', maxLength: 100 },
          },
          additionalProperties: false,
        },
      },
    },
    async (request) => {
      const { limit = 50, cursor, target_type, target_id, action } = request.query;
      const page = await deps.audit.list({ limit, cursor, targetType: target_type, targetId: target_id, action });
      return {
        events: page.items.map((e) => ({
          id: e.id,
          actor: e.actor,
          action: e.action,
          target_type: e.targetType,
          target_id: e.targetId,
          details: e.details,
          source_ip: e.sourceIp,
          created_at: new Date(e.createdAt).toISOString(),
        })),
        next_cursor: page.nextCursor ?? null,
      };
    },
  );
}
