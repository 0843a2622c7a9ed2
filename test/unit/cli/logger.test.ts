/**
 * The CLI logger's progress on a non-TTY (a log, CI): nothing for short work, one "what is
 * happening" line every 30 s for long work such as a slow download (issue 15 item 12).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CliLogger, NON_TTY_PROGRESS_MS } from '../../../src/cli/logger.js';

afterEach(() => {
  vi.useRealTimers();
});

function logger(isTTY: boolean): { log: CliLogger; out: string[] } {
  const out: string[] = [];
  return { log: new CliLogger({ stderr: { isTTY, write: (s: string) => out.push(s) > 0 }, env: { NO_COLOR: '1' }, verbose: false }), out };
}

describe('progress on a non-TTY', () => {
  it('says nothing for work shorter than the interval', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { log, out } = logger(false);
    const p = log.progress('debian.tar.xz', 10 << 20, 'bytes');
    vi.setSystemTime(Date.now() + NON_TTY_PROGRESS_MS - 1);
    p.update(5 << 20);
    p.stop();
    expect(out).toEqual([]);
  });

  it('prints where a long transfer is, once per interval, with the total when known', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { log, out } = logger(false);
    const p = log.progress('layer sha256:abcd', 100 << 20, 'bytes');
    const t0 = Date.now();
    vi.setSystemTime(t0 + NON_TTY_PROGRESS_MS);
    p.update(25 << 20);
    p.update(26 << 20); // the same interval: no second line
    vi.setSystemTime(t0 + 2 * NON_TTY_PROGRESS_MS);
    p.update(50 << 20);
    const q = log.progress('rootfs.tar', undefined, 'bytes');
    vi.setSystemTime(t0 + 4 * NON_TTY_PROGRESS_MS);
    q.update(3 << 20);
    expect(out).toEqual(['layer sha256:abcd: 25.0 MiB of 100.0 MiB (25%) so far\n', 'layer sha256:abcd: 50.0 MiB of 100.0 MiB (50%) so far\n', 'rootfs.tar: 3.0 MiB so far\n']);
  });
});
