#!/usr/bin/env node
// Entry point of the single kubevirtbmc binary. Runs the compiled CLI from dist/ when it has been
// built (npm run build); in a source checkout without a build it runs the TypeScript through tsx.
import { existsSync } from 'node:fs';

const built = new URL('../dist/cli/main.js', import.meta.url);
let mod;
if (existsSync(built)) {
  mod = await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  mod = await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
process.exitCode = await mod.main(process.argv.slice(2));
