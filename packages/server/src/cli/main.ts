#!/usr/bin/env node
import { Command } from 'commander';
import { adminCommands } from './admin-commands.ts';
import { reportError } from './context.ts';
import { registrationCommands } from './registration-commands.ts';
import { serveCommand } from './serve.ts';

const program = new Command('latch')
  .description('Latch: OAuth 2.0 / OpenID Connect authorization server')
  .option('-c, --config <path>', 'path to latch.yaml (default: $LATCH_CONFIG, then ./latch.yaml)')
  .showHelpAfterError('(add --help for usage)');

serveCommand(program);
adminCommands(program);
registrationCommands(program);

// `latch … | head` closes the pipe early: that ends the output, it is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

program.parseAsync(process.argv).catch(reportError);
