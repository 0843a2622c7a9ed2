import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PACKAGE_ROOT, readVersion } from './context.js';
import { generatedFiles } from './gen-docs.js';

// `npm run gen`: writes the man page and completions generated from the command table.
for (const [rel, text] of Object.entries(generatedFiles(readVersion()))) {
  const file = join(PACKAGE_ROOT, rel);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  process.stdout.write(`wrote ${rel}\n`);
}
