/**
 * RFC 8936 poll delivery, with long polling: each request acknowledges what the previous answer
 * brought (`ack`) and reports what could not be accepted (`setErrs`), then waits at Latch until
 * events arrive (`returnImmediately: false`). Acknowledgements are kept until a request carrying
 * them succeeds; a SET that failed for a passing reason is neither acknowledged nor reported, so
 * Latch offers it again. Failures back off up to 30 s.
 */
import { isObject, request } from '../http.ts';
import type { ProcessResult } from './receiver.ts';

export interface PollerOptions {
  endpoint: string;
  token(): Promise<string>;
  tokenRefused(): void;
  process(jwt: string): Promise<ProcessResult>;
  timeoutMs: number;
  maxEvents?: number;
  /** How long one long poll may stay open before we ask again (default 30 s). */
  longPollTimeoutMs?: number;
  onError(err: unknown): void;
}

export class Poller {
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;
  private ack: string[] = [];
  private setErrs: Record<string, { err: string; description: string }> = {};
  /** Successful poll requests (tests). */
  polls = 0;

  constructor(private readonly options: PollerOptions) {}

  start(): void {
    this.running ??= this.loop();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  private async loop(): Promise<void> {
    let backoff = 0;
    while (!this.abort.signal.aborted) {
      try {
        await this.pollOnce();
        backoff = 0;
      } catch (err) {
        if (this.abort.signal.aborted) break;
        this.options.onError(err);
        backoff = Math.min(Math.max(500, backoff * 2), 30_000);
        await sleep(backoff, this.abort.signal);
      }
    }
  }

  private async pollOnce(): Promise<void> {
    const ack = this.ack;
    const setErrs = this.setErrs;
    const body = {
      maxEvents: this.options.maxEvents ?? 100,
      returnImmediately: false,
      ...(ack.length > 0 ? { ack } : {}),
      ...(Object.keys(setErrs).length > 0 ? { setErrs } : {}),
    };
    const reply = await request(this.options.endpoint, {
      method: 'POST',
      headers: { authorization: `Bearer ${await this.options.token()}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      timeoutMs: (this.options.longPollTimeoutMs ?? 30_000) + this.options.timeoutMs,
      signal: this.abort.signal,
    });
    if (reply.status === 401) this.options.tokenRefused();
    if (reply.status !== 200 || !isObject(reply.json)) throw new Error(`poll answered ${reply.status}: ${reply.text.slice(0, 200)}`);
    this.polls++;
    // Delivered: these acknowledgements and errors are done.
    this.ack = this.ack.slice(ack.length);
    for (const jti of Object.keys(setErrs)) delete this.setErrs[jti];
    const sets = isObject(reply.json.sets) ? reply.json.sets : {};
    for (const [jti, jwt] of Object.entries(sets)) {
      if (typeof jwt !== 'string') {
        this.setErrs[jti] = { err: 'invalid_request', description: 'not a JWS string' };
        continue;
      }
      const result = await this.options.process(jwt);
      // A duplicate was applied before (its acknowledgement got lost): acknowledge it again.
      if (result.outcome === 'applied' || result.outcome === 'duplicate') this.ack.push(jti);
      else if (result.outcome === 'rejected') this.setErrs[jti] = { err: result.code, description: result.description };
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
