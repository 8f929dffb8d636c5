#!/usr/bin/env node
// Runs the compiled CLI (npm install builds it; `npm run build` rebuilds it).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('emp-worker is not built yet: run `npm run build` (npm install does it for you).\n');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exit(await main(process.argv.slice(2)));
