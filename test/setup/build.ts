import { execFileSync } from 'node:child_process';

// The integration tests run the built CLI (bin/cake -> dist/). scripts/test.sh builds first and
// sets CAKE_TEST_BUILT=1; a bare `npx vitest` builds here.
export default function setup(): void {
  if (process.env.CAKE_TEST_BUILT === '1') return;
  execFileSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
}
