/**
 * Fastify plugin. Registers the receivers' endpoints (when given), decorates requests with
 * `principal`, and the instance with `requireToken(requirements)`, a hook for routes:
 *
 *   await app.register(latchResourceServer, { guard, receiver, pushPath: '/ssf/events' });
 *   app.get('/notes', { onRequest: app.requireToken({ scopes: ['notes:read'] }) }, (req) => req.principal.sub);
 *
 * The hook works in `onRequest` (before the body is read: cheapest) or `preHandler` (needed when
 * body tokens are allowed).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { BackchannelLogoutReceiver } from '../backchannel-logout.ts';
import type { Guard, RouteRequirements } from '../guard.ts';
import type { ActivePrincipal } from '../principal.ts';
import { MAX_SET_BYTES, type Receiver, SET_CONTENT_TYPE } from '../ssf/receiver.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The token's principal on routes guarded by requireToken (null elsewhere). */
    principal: ActivePrincipal;
  }
  interface FastifyInstance {
    requireToken(requirements?: RouteRequirements): (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  }
}

export interface LatchFastifyOptions {
  guard: Guard;
  /** Shared Signals receiver: its push endpoint is mounted at `pushPath`. */
  receiver?: Receiver;
  pushPath?: string;
  /** Back-channel logout receiver, mounted at `backchannelLogoutPath`. */
  backchannelLogout?: BackchannelLogoutReceiver;
  backchannelLogoutPath?: string;
}

async function plugin(app: FastifyInstance, options: LatchFastifyOptions): Promise<void> {
  const { guard } = options;
  app.decorateRequest('principal', null as unknown as ActivePrincipal);
  app.decorate('requireToken', (requirements?: RouteRequirements) => async (request: FastifyRequest, reply: FastifyReply) => {
    const result = await guard.check(
      {
        authorization: request.headers.authorization,
        query: guard.readsQuery ? new URL(request.url, 'http://localhost').searchParams : undefined,
        form: guard.readsForm ? formOf(request.body) : undefined,
      },
      requirements,
    );
    if (!result.ok) return reply.code(result.status).headers(result.headers).send(result.body);
    request.principal = result.principal;
  });

  const { receiver, backchannelLogout } = options;
  if (receiver || backchannelLogout) {
    // The receivers' media types are parsed as text in their own context, leaving the app's parsers alone.
    await app.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_SET_BYTES }, (_req, body, done) => done(null, body));
      if (receiver) {
        scope.post(options.pushPath ?? '/ssf/events', async (request, reply) => {
          const answer = await receiver.handlePush({
            contentType: request.headers['content-type'],
            authorization: request.headers.authorization,
            body: (request.body as Buffer | undefined) ?? '',
          });
          return reply.code(answer.status).headers(answer.headers).send(answer.body);
        });
      }
      if (backchannelLogout) {
        scope.post(options.backchannelLogoutPath ?? '/backchannel-logout', async (request, reply) => {
          const answer = await backchannelLogout.handle({ contentType: request.headers['content-type'], body: (request.body as Buffer | undefined) ?? '' });
          return reply.code(answer.status).headers(answer.headers).send(answer.body);
        });
      }
    });
  }
}

function formOf(body: unknown): { get(name: string): string | null } | undefined {
  if (typeof body !== 'object' || body === null || Buffer.isBuffer(body)) return undefined;
  const record = body as Record<string, unknown>;
  return { get: (name) => (typeof record[name] === 'string' ? (record[name] as string) : null) };
}

// What fastify-plugin does: the decorators reach the registering instance instead of a child context.
Object.assign(plugin, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: '@latch/resource-server' });

export const latchResourceServer = plugin;
export { SET_CONTENT_TYPE };
