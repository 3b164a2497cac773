import type { FastifyInstance } from 'fastify';
import { notFound } from '../../domain/errors.ts';
import { type ClientService, clientView } from '../../services/clients.ts';
import { adminActor } from './auth.ts';
import { type PageQuery, pageQuerySchema } from './pagination.ts';

const idParams = { type: 'object', properties: { client_id: { type: 'string', maxLength: 100 } }, required: ['client_id'] } as const;

/** Client metadata is validated by the domain (RFC 7591 §2), which names the offending field. */
export function adminClientRoutes(app: FastifyInstance, deps: { clients: ClientService }): void {
  app.post('/admin/v1/clients', async (request, reply) => {
    const created = await deps.clients.create(request.body, adminActor(request.ip), { source: 'admin' });
    return reply
      .code(201)
      .header('Location', `/admin/v1/clients/${created.client.clientId}`)
      .header('Cache-Control', 'no-store')
      .send(clientView(created.client, created));
  });

  app.get<{ Querystring: PageQuery & { source?: 'admin' | 'cli' | 'dynamic'; grant_type?: string } }>(
    '/admin/v1/clients',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { ...pageQuerySchema, source: { type: 'string', enum: ['admin', 'cli', 'dynamic'] }, grant_type: { type: 'string', maxLength: 100 } },
          additionalProperties: false,
        },
      },
    },
    async (request) => {
      const { limit = 50, cursor, source, grant_type } = request.query;
      const page = await deps.clients.list({ limit, cursor, source, grantType: grant_type });
      return { clients: page.items.map((c) => clientView(c)), next_cursor: page.nextCursor ?? null };
    },
  );

  app.get<{ Params: { client_id: string } }>('/admin/v1/clients/:client_id', { schema: { params: idParams } }, async (request) => {
    const client = await deps.clients.lookup(request.params.client_id);
    if (!client) throw notFound('Client');
    return clientView(client);
  });

  app.patch<{ Params: { client_id: string } }>('/admin/v1/clients/:client_id', { schema: { params: idParams } }, async (request, reply) => {
    const updated = await deps.clients.update(request.params.client_id, request.body, adminActor(request.ip), { admin: true });
    if (!updated) throw notFound('Client');
    return reply.header('Cache-Control', 'no-store').send(clientView(updated.client, updated));
  });

  app.delete<{ Params: { client_id: string } }>('/admin/v1/clients/:client_id', { schema: { params: idParams } }, async (request, reply) => {
    if (!(await deps.clients.remove(request.params.client_id, adminActor(request.ip)))) throw notFound('Client');
    return reply.code(204).send();
  });

  app.post<{ Params: { client_id: string } }>('/admin/v1/clients/:client_id/secret', { schema: { params: idParams } }, async (request, reply) => {
    const rotated = await deps.clients.rotateSecret(request.params.client_id, adminActor(request.ip));
    if (!rotated) throw notFound('Client');
    return reply.header('Cache-Control', 'no-store').send(clientView(rotated.client, rotated));
  });
}
