import { Ajv } from 'ajv';
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify';
import { errorHandler } from './errors.ts';
import { FORM_CONTENT_TYPE, FormParams } from './form.ts';

/** 64 KiB is ample for any OAuth request and JSON client metadata. */
export const BODY_LIMIT = 64 * 1024;

const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'body.password',
  'body.client_secret',
  'body.token',
  'body.refresh_token',
  'body.code',
];

export interface ServerOptions {
  logger: FastifyServerOptions['logger'] | false;
  logRequests: boolean;
  trustProxy: boolean;
  /** realm for WWW-Authenticate on invalid_client */
  realm?: string;
}

export function pinoOptions(level: string) {
  return {
    level,
    redact: { paths: REDACT, censor: '[redacted]' },
    // Log the path only: query strings can carry codes and tokens.
    serializers: {
      req(req: { method: string; url: string; id: string; ip?: string }) {
        return { id: req.id, method: req.method, path: req.url.split('?')[0], ip: req.ip };
      },
    },
  };
}

// Bodies are validated strictly: a wrong type is an error, never silently coerced, and unknown
// fields are reported rather than dropped. Query strings are text, so they are coerced.
const bodyAjv = new Ajv({ allErrors: false, removeAdditional: false, useDefaults: true, coerceTypes: false, strict: false });
const queryAjv = new Ajv({ allErrors: false, removeAdditional: false, useDefaults: true, coerceTypes: 'array', strict: false });

// Request ids are unique across every listener of the process (public and admin share one log).
let requestCounter = 0;
const requestIdPrefix = process.pid.toString(36);

/** A fastify instance with the shared parsers, limits, error mapping and security headers. */
export function createServer(options: ServerOptions): FastifyInstance {
  const app = Fastify({
    logger: options.logger,
    logController: new LogController({ disableRequestLogging: !options.logRequests }),
    bodyLimit: BODY_LIMIT,
    trustProxy: options.trustProxy,
    requestIdHeader: false,
    genReqId: () => `${requestIdPrefix}-${(++requestCounter).toString(36)}`,
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 200 },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(FORM_CONTENT_TYPE, { parseAs: 'string' }, (_req, body, done) => {
    done(null, new FormParams(body as string));
  });
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : queryAjv).compile(schema));
  app.setErrorHandler(errorHandler(options.realm));
  app.setNotFoundHandler((_request, reply) => {
    reply.code(404).header('Cache-Control', 'no-store').send({ error: 'not_found', error_description: 'No such endpoint.' });
  });
  // Graceful shutdown: once close() has begun, answer in-flight requests with `Connection: close`
  // so their keep-alive sockets end with the response instead of holding the close for the idle timeout.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    if (closing) reply.header('Connection', 'close');
    done(null, payload);
  });
  return app;
}
