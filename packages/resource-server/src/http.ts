/**
 * The SDK's outgoing HTTP: every call has a deadline, and anything that is not an HTTP answer
 * (refused connection, timeout, DNS failure) becomes an AuthorityUnavailableError.
 */
import { AuthorityUnavailableError } from './errors.ts';

export interface HttpReply {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed JSON body, or undefined when the body is not JSON. */
  json: unknown;
}

export interface HttpRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
  /** Aborts the request early (stopping a long poll). */
  signal?: AbortSignal;
}

/** Answers larger than this are refused: no metadata, JWKS or introspection answer comes close. */
const MAX_REPLY_BYTES = 1 << 20;

export async function request(url: string, req: HttpRequest): Promise<HttpReply> {
  const deadline = AbortSignal.timeout(req.timeoutMs);
  const signal = req.signal ? AbortSignal.any([deadline, req.signal]) : deadline;
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      method: req.method ?? 'GET',
      headers: { accept: 'application/json', ...req.headers },
      ...(req.body !== undefined ? { body: req.body } : {}),
      redirect: 'error',
      signal,
    });
    const length = Number(res.headers.get('content-length') ?? 0);
    if (length > MAX_REPLY_BYTES) {
      await res.body?.cancel();
      throw new AuthorityUnavailableError(`${url} answered ${length} bytes (at most ${MAX_REPLY_BYTES} accepted)`, res.status);
    }
    text = await res.text();
  } catch (err) {
    if (err instanceof AuthorityUnavailableError) throw err;
    const what = deadline.aborted ? `no answer within ${req.timeoutMs} ms` : req.signal?.aborted ? 'aborted' : (err as Error).message;
    throw new AuthorityUnavailableError(`${req.method ?? 'GET'} ${url}: ${what}`, undefined, { cause: err });
  }
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

export const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** `application/x-www-form-urlencoded` body from name/value pairs. */
export const formBody = (params: Record<string, string>): string => new URLSearchParams(params).toString();
