import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Ajv } from 'ajv';
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify';
import { OAuthError } from '../domain/errors.ts';
import type { DirectLane } from './direct.ts';
import { clientErrorResponse, errorHandler, sendError } from './errors.ts';
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
  /** Routes answered on node:http before fastify (http/direct.ts). */
  direct?: DirectLane;
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

/**
 * Node's HTTP parser rejected the bytes on a connection (fastify `clientErrorHandler`). Answer in
 * our JSON shape, unless a response has already started on this socket, then drop the connection.
 */
function onClientError(err: Error & { code?: string }, socket: Socket): void {
  // A reset connection has nobody left to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const pending = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !pending?.headersSent) socket.write(clientErrorResponse(err));
  socket.destroy(err);
}

/**
 * RFC 9110 §10.1.1: a server that cannot meet an Expect other than 100-continue "ought to respond
 * with a 417 (Expectation Failed)". Node sends a bare 417 unless this event is handled.
 */
function onUnmetExpectation(_request: IncomingMessage, response: ServerResponse): void {
  const body = JSON.stringify({ error: 'invalid_request', error_description: 'Only "Expect: 100-continue" is supported.' });
  response
    .writeHead(417, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      Connection: 'close',
    })
    .end(body);
}

// Request ids are unique across every listener of the process (public and admin share one log).
let requestCounter = 0;
const requestIdPrefix = process.pid.toString(36);
const nextRequestId = () => `${requestIdPrefix}-${(++requestCounter).toString(36)}`;

/**
 * A fastify instance with the shared parsers, limits, error mapping and security headers. Every
 * error response, including the ones fastify and Node produce before a route runs (malformed or
 * overlong paths, unparsable HTTP, oversized headers, shutdown), is RFC 6749 §5.2-shaped JSON
 * `{"error", "error_description"}` with `Cache-Control: no-store`, never a stack trace.
 */
export function createServer(options: ServerOptions): FastifyInstance {
  const handleError = errorHandler(options.realm);
  const direct = options.direct;
  // Graceful shutdown: set once close() has begun (see the hooks below).
  let closing = false;
  const app = Fastify({
    logger: options.logger,
    logController: new LogController({ disableRequestLogging: !options.logRequests }),
    bodyLimit: BODY_LIMIT,
    trustProxy: options.trustProxy,
    requestIdHeader: false,
    genReqId: nextRequestId,
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 200 },
    // Requests arriving during shutdown get a 503 in our shape from the onRequest hook below.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // Router errors before any route or hook runs: bad percent-encoding (FST_ERR_BAD_URL), a path
    // parameter over maxParamLength (FST_ERR_MAX_PARAM_LENGTH), a failed async constraint.
    frameworkErrors: (error, request, reply) => {
      reply.header('X-Content-Type-Options', 'nosniff');
      if (closing) reply.header('Connection', 'close');
      handleError(error, request, reply);
    },
    clientErrorHandler: onClientError,
    ...(direct ? { serverFactory: directFirst(direct, () => closing) } : {}),
  });
  app.server.on('checkExpectation', onUnmetExpectation);
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
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((_request, reply) => {
    reply.code(404).header('Cache-Control', 'no-store').send({ error: 'not_found', error_description: 'No such endpoint.' });
  });
  // Graceful shutdown: once close() has begun, answer in-flight requests with `Connection: close`
  // so their keep-alive sockets end with the response instead of holding the close for the idle timeout,
  // and refuse new requests on such sockets with 503 (docs/architecture.md §7: temporarily_unavailable).
  const inFlight = new Set<ServerResponse>();
  direct?.attach({ log: app.log, inFlight, nextRequestId });
  app.addHook('preClose', (done) => {
    closing = true;
    for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
    done();
  });
  // Synchronous hooks and no global onSend hook: onSend and async hooks showed up on the hot paths.
  app.addHook('onRequest', (_request, reply, done) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    if (closing) {
      sendError(
        reply.header('Retry-After', '1').header('Connection', 'close'),
        new OAuthError('temporarily_unavailable', 'The server is shutting down; retry the request.'),
      );
      return;
    }
    // Responses whose client went away never reach onResponse; drop them when the set grows.
    if (inFlight.size >= 10_000) for (const res of inFlight) if (res.writableEnded || res.destroyed) inFlight.delete(res);
    inFlight.add(reply.raw);
    done();
  });
  app.addHook('onResponse', (_request, reply, done) => {
    inFlight.delete(reply.raw);
    done();
  });
  return app;
}

/**
 * A fastify server factory whose server hands the direct lane's requests to it and everything else,
 * and every request during shutdown, to fastify. The server settings are fastify's own.
 */
function directFirst(direct: DirectLane, closing: () => boolean): NonNullable<FastifyServerOptions['serverFactory']> {
  return (fastifyHandler, fastifyOptions) => {
    const opts = fastifyOptions as { http?: object; keepAliveTimeout: number; requestTimeout: number; connectionTimeout: number; maxRequestsPerSocket: number };
    const server = createHttpServer(opts.http ?? {}, (request, response) => {
      if (!closing() && direct.accepts(request)) direct.serve(request, response);
      else fastifyHandler(request, response);
    });
    server.keepAliveTimeout = opts.keepAliveTimeout;
    server.requestTimeout = opts.requestTimeout;
    server.setTimeout(opts.connectionTimeout);
    if (opts.maxRequestsPerSocket > 0) server.maxRequestsPerSocket = opts.maxRequestsPerSocket;
    return server;
  };
}
