/**
 * `latch keys list`, and `latch keys rotate` and `latch keys promote`: the two steps of signing key
 * rotation, locally (the same as the admin API's /admin/v1/keys, /rotate and /promote; see
 * oidc/key-rotation.ts). All three show keys the same way, as the admin API does.
 */
import type { Command } from 'commander';
import { SIGNING_ALGS, type SigningAlg } from '../crypto/keys.ts';
import { systemClock } from '../domain/clock.ts';
import { MIN_PROMOTE_AFTER_SECONDS } from '../domain/key-timing.ts';
import { KeyRotation } from '../oidc/key-rotation.ts';
import { cliActor, type GlobalOptions, keyStore, printTable, withStorage } from './context.ts';

function algs(value: string | undefined): readonly SigningAlg[] {
  if (value === undefined) return SIGNING_ALGS;
  if (!(SIGNING_ALGS as readonly string[]).includes(value)) throw new Error(`--alg: expected one of ${SIGNING_ALGS.join(', ')}, got "${value}"`);
  return [value as SigningAlg];
}

export function keyCommands(keys: Command, global: () => GlobalOptions): void {
  const withRotation = <T>(work: (rotation: KeyRotation) => Promise<T>) =>
    withStorage(global(), async (storage, cfg) => {
      const store = await keyStore(storage, cfg);
      await store.ensureInitialKeys();
      const rotation = new KeyRotation({
        keys: store,
        repo: storage.signingKeys,
        audit: storage.audit,
        clock: systemClock,
        schedule: { rotationInterval: 0, promoteAfter: 0 },
      });
      return work(rotation);
    });
  const listed = async (rotation: KeyRotation) => (await rotation.list()).map(({ public_jwk: _jwk, ...k }) => k);
  const show = async (rotation: KeyRotation, json: boolean | undefined, extra: Record<string, unknown>) => {
    const list = await listed(rotation);
    if (json) console.log(JSON.stringify({ ...extra, keys: list }, null, 2));
    else printTable(list, ['kid', 'alg', 'state', 'created_at', 'remove_after']);
  };

  keys
    .command('list')
    .description('list signing keys and their state')
    .option('--json', 'machine-readable output (an array of keys)')
    .action(async (opts: { json?: boolean }) =>
      withRotation(async (rotation) => {
        if (opts.json) console.log(JSON.stringify(await listed(rotation), null, 2));
        else await show(rotation, false, {});
      }),
    );

  keys
    .command('rotate')
    .description('publish a new signing key as "next" (in the JWKS, not yet signing); promote it later')
    .option('--alg <alg>', `only this algorithm (${SIGNING_ALGS.join(', ')})`)
    .option('--json', 'machine-readable output')
    .action(async (opts: { alg?: string; json?: boolean }) =>
      withRotation(async (rotation) => {
        const created = await rotation.rotate(cliActor(), algs(opts.alg));
        if (!opts.json) {
          console.log(
            created.length
              ? `published as next: ${created.join(', ')}; promote with \`latch keys promote\` after at least ${MIN_PROMOTE_AFTER_SECONDS} s (JWKS cache lifetime plus key reload interval)`
              : 'a next key is already waiting; nothing published',
          );
        }
        await show(rotation, opts.json, { created });
      }),
    );

  keys
    .command('promote')
    .description('make the "next" key sign; the active key retires and leaves the JWKS once its tokens have expired')
    .option('--alg <alg>', `only this algorithm (${SIGNING_ALGS.join(', ')})`)
    .option('--json', 'machine-readable output')
    .action(async (opts: { alg?: string; json?: boolean }) =>
      withRotation(async (rotation) => {
        const { promoted, warning } = await rotation.promote(cliActor(), algs(opts.alg));
        if (warning) console.error(`warning: ${warning}`);
        if (!opts.json) console.log(promoted.length ? `now signing: ${promoted.join(', ')}` : 'no next key to promote; run `latch keys rotate` first');
        await show(rotation, opts.json, { promoted, ...(warning ? { warning } : {}) });
      }),
    );
}
