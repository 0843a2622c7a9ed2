#!/usr/bin/env node
// The launcher behind bin/cake (a sh wrapper, see there): everything lives in dist/ (built by `npm run build`). The bundle (dist/bundle/)
// starts faster; the plain compiler output (dist/cli/) is used when it is newer than the bundle
// (someone ran only `tsc`) or when there is no bundle.
import { statSync } from 'node:fs';

const mtime = (u) => {
  try {
    return statSync(u).mtimeMs;
  } catch {
    return -1;
  }
};
const bundle = new URL('../dist/bundle/main.mjs', import.meta.url);
const plain = new URL('../dist/cli/main.js', import.meta.url);
const entry = mtime(bundle) >= mtime(plain) ? bundle : plain;
import(entry.href).then((m) => m.main(process.argv)).catch((err) => {
  process.stderr.write(`cake: cannot start: ${err && err.message ? err.message : err}\nhint: run \`npm run build\` in the cake checkout\n`);
  process.exit(1);
});
