#!/usr/bin/env node
// Prints the README configuration reference table generated from the config schema.
//   node scripts/config-reference.mjs           print the Markdown table
//   node scripts/config-reference.mjs --write   replace the block between the config-reference markers in README.md
//                                               (appends a "Configuration reference" section when the markers are missing)
//   node scripts/config-reference.mjs --check   exit 1 when README.md's block differs from the schema (CI)
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register();
const { configReferenceMarkdown, withReference, REFERENCE_END } = await import('../packages/server/src/config/reference.ts');

const readmePath = join(dirname(fileURLToPath(import.meta.url)), '..', 'README.md');
const mode = process.argv[2];
const table = configReferenceMarkdown();

if (mode === undefined) {
  process.stdout.write(table);
} else if (mode === '--write' || mode === '--check') {
  let readme;
  try {
    readme = readFileSync(readmePath, 'utf8');
  } catch {
    readme = '';
  }
  const updated = withReference(readme, table);
  if (mode === '--write') {
    writeFileSync(readmePath, updated);
    console.log(`README.md: configuration reference ${updated === readme ? 'already up to date' : 'updated'}`);
  } else if (updated !== readme || !readme.includes(REFERENCE_END)) {
    console.error('README.md: the configuration reference is missing or out of date; run `node scripts/config-reference.mjs --write`');
    process.exit(1);
  } else {
    console.log('README.md: configuration reference is up to date');
  }
} else {
  console.error('usage: node scripts/config-reference.mjs [--write | --check]');
  process.exit(2);
}
