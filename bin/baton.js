#!/usr/bin/env node
// The `baton` command: runs the compiled CLI (built by `npm ci` through the prepare script),
// or the TypeScript sources through tsx when no build is there (a development checkout).
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/shared/cli/main.js', import.meta.url);
let cli;
if (existsSync(compiled)) {
  cli = await import(compiled.href);
} else {
  await import('tsx/esm');
  cli = await import(new URL('../shared/cli/main.ts', import.meta.url).href);
}
process.exit(await cli.main(process.argv));
