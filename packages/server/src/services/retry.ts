/**
 * PostgreSQL may abort one of two transactions that touch the same rows in opposite orders
 * (deadlock, 40P01) or under serialization checks (40001). Both are safe to run again: the
 * transaction rolled back completely. SQLite transactions are serialized and never see these.
 */
const RETRYABLE = new Set(['40P01', '40001']);

export function isRetryableConflict(err: unknown): boolean {
  return RETRYABLE.has((err as { code?: string } | undefined)?.code ?? '');
}

export async function retryOnConflict<T>(work: () => Promise<T>, attempts = 4): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await work();
    } catch (err) {
      if (i >= attempts || !isRetryableConflict(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * i));
    }
  }
}
