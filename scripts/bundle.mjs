// Bundles the compiled CLI (dist/cli/main.js and what it imports) into code-split ESM chunks in
// dist/bundle/, so that `cake exec` resolves a handful of files instead of hundreds of modules.
// The chunks sit two levels below the repository root, like dist/<dir>/<file>.js, so the
// `new URL('../../…', import.meta.url)` lookups (package.json, keyrings/, distros/) still work.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';

// `import process from 'node:process'` (chalk, execa and others do) makes Node build the module's
// ESM facade, which reads every property of process, stdin included: that opens a stream on fd 0
// at start-up (about 7 ms, and a tty.ReadStream on a terminal). The bundle gets the global
// `process` instead; a name not listed here fails the build ("No matching export").
const processShim = {
  name: 'process-shim',
  setup(b) {
    b.onResolve({ filter: /^(node:)?process$/ }, (a) => (a.kind === 'require-call' ? undefined : { path: 'process', namespace: 'cake-process' }));
    b.onLoad({ filter: /.*/, namespace: 'cake-process' }, () => ({
      loader: 'js',
      contents: 'const p = globalThis.process;\nexport default p;\nexport const { argv, env, execArgv, execPath, hrtime, platform } = p;\n',
    }));
  },
};

rmSync('dist/bundle', { recursive: true, force: true });
await build({
  entryPoints: ['dist/cli/main.js'],
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir: 'dist/bundle',
  // .mjs: Node knows an .mjs file is ESM without looking for the nearest package.json's "type",
  // once per chunk on the way to `cake exec` (about 35 of them)
  outExtension: { '.js': '.mjs' },
  external: ['node-pty'],
  plugins: [processShim],
  sourcemap: true,
  logLevel: 'warning',
  // Some CommonJS dependencies call require(): give the ESM bundle one.
  banner: { js: "import { createRequire as __cakeRequire } from 'node:module'; const require = __cakeRequire(import.meta.url);" },
});
