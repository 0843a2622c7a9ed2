// Bundles the compiled CLI (dist/cli/main.js and what it imports) into code-split ESM chunks in
// dist/bundle/, so that `cake exec` resolves a handful of files instead of hundreds of modules.
// The chunks sit two levels below the repository root, like dist/<dir>/<file>.js, so the
// `new URL('../../…', import.meta.url)` lookups (package.json, keyrings/, distros/) still work.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';

rmSync('dist/bundle', { recursive: true, force: true });
await build({
  entryPoints: ['dist/cli/main.js'],
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir: 'dist/bundle',
  external: ['node-pty'],
  sourcemap: true,
  logLevel: 'warning',
  // Some CommonJS dependencies call require(): give the ESM bundle one.
  banner: { js: "import { createRequire as __cakeRequire } from 'node:module'; const require = __cakeRequire(import.meta.url);" },
});
