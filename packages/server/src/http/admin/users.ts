import type { FastifyInstance } from 'fastify';
import { notFound } from '../../domain/errors.ts';
import { publicUser } from '../../domain/user.ts';
import type { UserService } from '../../services/users.ts';
import { adminActor } from './auth.ts';
import { type PageQuery, pageQuerySchema } from './pagination.ts';

const userFields = {
  username: { type: 'string', minLength: 1, maxLength: 64 },
  password: { type: 'string', minLength: 1, maxLength: 1024 },
  email: { type: ['string', 'null'], maxLength: 320 },
  email_verified: { type: 'boolean' },
  name: { type: ['string', 'null'], maxLength: 200 },
} as const;

interface UserBody {
  username?: string;
  password?: string;
  email?: string | null;
  email_verified?: boolean;
  name?: string | null;
  active?: boolean;
}

const idParams = { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] } as const;

export function adminUserRoutes(app: FastifyInstance, deps: { users: UserService }): void {
  app.post<{ Body: UserBody }>(
    '/admin/v1/users',
    { schema: { body: { type: 'object', properties: userFields, required: ['username'], additionalProperties: false } } },
    async (request, reply) => {
      const b = request.body;
      const user = await deps.users.create(
        { username: b.username as string, password: b.password, email: b.email, emailVerified: b.email_verified, name: b.name },
        adminActor(request.ip),
      );
      return reply.code(201).header('Location', `/admin/v1/users/${user.id}`).send(publicUser(user));
    },
  );

  app.get<{ Querystring: PageQuery & { q?: string; active?: boolean } }>(
    '/admin/v1/users',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { ...pageQuerySchema, q: { type: 'string', maxLength: 64 }, active: { type: 'boolean' } },
          additionalProperties: false,
        },
      },
    },
    async (request) => {
      const { limit = 50, cursor, q, active } = request.query;
      const page = await deps.users.list({ limit, cursor, query: q, active });
      return { users: page.items.map(publicUser), next_cursor: page.nextCursor ?? null };
    },
  );

  app.get<{ Params: { id: string } }>('/admin/v1/users/:id', { schema: { params: idParams } }, async (request) => {
    const user = await deps.users.lookup(request.params.id);
    if (!user) throw notFound('User');
    return publicUser(user);
  });

  app.patch<{ Params: { id: string }; Body: UserBody }>(
    '/admin/v1/users/:id',
    {
      schema: {
        params: idParams,
        body: { type: 'object', properties: { ...userFields, active: { type: 'boolean' } }, additionalProperties: false, minProperties: 1 },
      },
    },
    async (request) => {
      const b = request.body;
      const user = await deps.users.update(
        request.params.id,
        { username: b.username, password: b.password, email: b.email, emailVerified: b.email_verified, name: b.name, active: b.active },
        adminActor(request.ip),
      );
      if (!user) throw notFound('User');
      return publicUser(user);
    },
  );

  /** DELETE deactivates: the account can no longer sign in, and its id is never reused. */
  app.delete<{ Params: { id: string } }>('/admin/v1/users/:id', { schema: { params: idParams } }, async (request) => {
    const user = await deps.users.deactivate(request.params.id, adminActor(request.ip));
    if (!user) throw notFound('User');
    return publicUser(user);
  });
}
