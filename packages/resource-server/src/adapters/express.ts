/**
 * Express middleware (express 4 and 5): `requireToken(guard, { scopes })` puts the principal on
 * `req.principal` (and `res.locals.principal`) or answers 401 / 403 / 503; `pushRoute` and
 * `backchannelLogoutRoute` handle the receivers' endpoints (mount them before any body parser, or
 * after `express.text`/`express.raw` for their media types).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BackchannelLogoutReceiver } from '../backchannel-logout.ts';
import type { Guard, RouteRequirements } from '../guard.ts';
import type { ActivePrincipal } from '../principal.ts';
import type { Receiver } from '../ssf/receiver.ts';
import { backchannelLogoutHandler, checkRequest, pushHandler, sendJson } from './node.ts';

type Request = IncomingMessage & { body?: unknown; principal?: ActivePrincipal };
type Response = ServerResponse & { locals?: Record<string, unknown> };
type Next = (err?: unknown) => void;

export function requireToken(guard: Guard, requirements?: RouteRequirements): (req: Request, res: Response, next: Next) => void {
  return (req, res, next) => {
    checkRequest(guard, req, requirements).then((result) => {
      if (!result.ok) return sendJson(res, result.status, result.headers, result.body);
      req.principal = result.principal;
      if (res.locals) res.locals.principal = result.principal;
      next();
    }, next);
  };
}

export function pushRoute(receiver: Receiver): (req: Request, res: Response, next: Next) => void {
  const handle = pushHandler(receiver);
  return (req, res, next) => {
    handle(req, res).catch(next);
  };
}

export function backchannelLogoutRoute(receiver: BackchannelLogoutReceiver): (req: Request, res: Response, next: Next) => void {
  const handle = backchannelLogoutHandler(receiver);
  return (req, res, next) => {
    handle(req, res).catch(next);
  };
}
