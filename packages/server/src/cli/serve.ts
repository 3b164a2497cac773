import type { Command } from 'commander';
import { type GlobalOptions, readConfig } from './context.ts';

export function serveCommand(program: Command): void {
  program
    .command('serve')
    .description('start the public (OAuth/OIDC) and admin listeners')
    .action(async () => {
      const config = readConfig(program.opts<GlobalOptions>());
      const { createLatch } = await import('../latch.ts');
      const latch = await createLatch(config, { defaultMetrics: true });
      if (latch.generatedAdminToken) {
        // Printed exactly once, on the start that generated it; only its hash is stored.
        process.stdout.write(`admin token: ${latch.generatedAdminToken}\n`);
      }
      let urls: { publicUrl: string; adminUrl: string };
      try {
        urls = await latch.listen();
      } catch (err) {
        // e.g. a port in use: close whatever did start (the other listener, the database) so the process exits.
        await latch.close().catch(() => {});
        throw err;
      }
      const { publicUrl, adminUrl } = urls;
      latch.publicApp.log.info({ issuer: config.issuer, publicUrl, adminUrl, database: config.database.url.replace(/\/\/[^@]*@/, '//***@') }, 'latch started');
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        latch.publicApp.log.info({ signal }, 'shutting down: finishing in-flight requests');
        const force = setTimeout(() => process.exit(1), 15_000);
        force.unref();
        await latch.close();
        process.exit(0);
      };
      process.on('SIGTERM', () => void stop('SIGTERM'));
      process.on('SIGINT', () => void stop('SIGINT'));
    });
}
