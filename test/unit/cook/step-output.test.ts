import { describe, expect, it } from 'vitest';
import { captureStepOutput, runFailureHint } from '../../../src/cook/step-output.js';
import { closeSync, openSync, readFileSync, writeSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe('run step failure hints', () => {
  it('names a command that was not found, and nothing about chown', () => {
    const h = runFailureHint(127, 'Reading package lists...\n/bin/sh: 1: gawk: not found\n', 'auto');
    expect(h).toMatch(/^gawk was not found in the env \(exit 127\): install it in an earlier step/);
    expect(h).not.toMatch(/chown|proot/);
    expect(runFailureHint(127, 'bash: line 1: jq: command not found\n', 'auto')).toMatch(/^jq was not found/);
    expect(runFailureHint(127, '', 'auto')).toMatch(/^a command was not found in the env/);
  });

  it('says when a file the engine mounts was to be replaced (EBUSY)', () => {
    const h = runFailureHint(1, "ln: cannot remove '/etc/resolv.conf': Device or resource busy\n", 'auto');
    expect(h).toMatch(/^\/etc\/resolv\.conf is a mount point while a step runs/);
    expect(h).not.toMatch(/chown/);
    expect(runFailureHint(1, "ln: failed to create symbolic link '/etc/resolv.conf': Permission denied\n", 'proot')).toMatch(/^\/etc\/resolv\.conf is a mount point while a step runs/);
  });

  it('mentions ownership only for a failed chown, and proot only when it is not the engine', () => {
    const tail = "chown: changing ownership of '/var/log/nginx': Invalid argument\ndpkg: error processing package nginx-common (--configure):\n";
    expect(runFailureHint(100, tail, 'auto')).toMatch(/^a change of ownership failed \(chown: changing ownership of '\/var\/log\/nginx': Invalid argument\): this engine could not record it, or try --engine proot;/);
    expect(runFailureHint(100, tail, 'proot')).not.toContain('--engine proot');
  });

  it('gives the plain retry hint for other failures, and names signals', () => {
    expect(runFailureHint(3, 'some output\n', 'auto')).toBe('the steps before it are cached: fix this one and cook again');
    expect(runFailureHint(126, '', 'auto')).toMatch(/could not be executed/);
    expect(runFailureHint(137, '', 'auto')).toMatch(/killed by signal 9/);
  });

  it('forwards the output as it comes and keeps its tail', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cake-out-test-'));
    const sink = openSync(join(dir, 'sink'), 'w');
    const out = captureStepOutput(sink);
    writeSync(out.fd, 'x'.repeat(20_000) + '\nlast line\n');
    const tail = out.finish();
    closeSync(sink);
    expect(tail.length).toBeLessThanOrEqual(16 * 1024);
    expect(tail.endsWith('\nlast line\n')).toBe(true);
    expect(readFileSync(join(dir, 'sink'), 'utf8')).toBe('x'.repeat(20_000) + '\nlast line\n');
  });
});
