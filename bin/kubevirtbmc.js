#!/usr/bin/env node
// Entry point of the single kubevirtbmc binary. Runs the compiled CLI from dist/ when it has been
// built (npm run build) and is not older than the sources; otherwise (a source checkout without a
// build, or with a stale one) it runs the TypeScript sources through tsx.
import { existsSync, readdirSync, statSync } from 'node:fs';

// `kubevirtbmc --help | head` closes the pipe early: that is not an error.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const built = new URL('../dist/cli/main.js', import.meta.url);
const src = new URL('../src/', import.meta.url);

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = `${dir}${entry.name}`;
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(`${path}/`) : statSync(path).mtimeMs);
  }
  return newest;
}

function useBuild() {
  if (!existsSync(built)) return false;
  if (!existsSync(src)) return true; // an installed package ships dist/ only
  return statSync(built).mtimeMs >= newestMtime(src.pathname);
}

let mod;
if (useBuild()) {
  mod = await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  mod = await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
process.exitCode = await mod.main(process.argv.slice(2));
