/** Column encodings shared by the repositories. */
export const toBuffer = (v: Buffer | Uint8Array): Buffer => (Buffer.isBuffer(v) ? v : Buffer.from(v));
export const splitScope = (s: string): string[] => (s === '' ? [] : s.split(' '));
export const joinScope = (s: readonly string[]): string => s.join(' ');
export const parseList = (s: string | null): string[] | null => (s === null ? null : JSON.parse(s));
export const affected = (res: { numUpdatedRows?: bigint; numDeletedRows?: bigint }): number => Number(res.numUpdatedRows ?? res.numDeletedRows ?? 0);
