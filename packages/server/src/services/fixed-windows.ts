/**
 * Counters in fixed time windows, kept in process memory and bounded: the shared core of the
 * in-memory login throttle and request budget. A key's window opens at its first hit and lasts
 * `windowMs`; when the map is full, ended windows are swept, then the oldest ones dropped.
 */
export interface Window {
  count: number;
  resetAt: number;
}

export class FixedWindows {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries = 100_000,
  ) {}

  /** The key's current window, if one is open at `now`. */
  peek(key: string, now: number): Window | undefined {
    const w = this.windows.get(key);
    return w && w.resetAt > now ? w : undefined;
  }

  /** Counts one hit for `key`, opening a new window when none is open; returns the window. */
  hit(key: string, now: number): Window {
    const w = this.windows.get(key);
    if (w && w.resetAt > now) {
      w.count++;
      return w;
    }
    if (!w && this.windows.size >= this.maxEntries) this.sweep(now);
    const opened = { count: 1, resetAt: now + this.windowMs };
    this.windows.set(key, opened);
    return opened;
  }

  get size(): number {
    return this.windows.size;
  }

  private sweep(now: number): void {
    for (const [key, w] of this.windows) if (w.resetAt <= now) this.windows.delete(key);
    for (const key of this.windows.keys()) {
      if (this.windows.size < this.maxEntries) break;
      this.windows.delete(key);
    }
  }
}

/** Whole seconds until `window` ends (at least 1), for Retry-After (RFC 9110 §10.2.3). */
export const secondsLeft = (window: Window, now: number) => Math.max(1, Math.ceil((window.resetAt - now) / 1000));
