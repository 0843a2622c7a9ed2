import { describe, expect, it } from 'vitest';
import {
  bytesFromKey,
  keyFromBytes,
  lookupOwner,
  recordOwner,
  removeOwnerSubtree,
  renameOwnerSubtree,
  setOwner,
  type OwnershipTable,
} from '../../../src/model/ownership.js';

describe('ownership table', () => {
  it('absent means root:root with the mode on disk', () => {
    const t: OwnershipTable = { 'etc/shadow': { uid: 0, gid: 42, mode: 0o640 } };
    expect(lookupOwner(t, 'etc/passwd', 0o100644)).toEqual({ uid: 0, gid: 0, mode: 0o644 });
    expect(lookupOwner(t, 'etc/shadow', 0o100600)).toEqual({ uid: 0, gid: 42, mode: 0o640 });
  });

  it('never reads or writes inherited properties (__proto__, constructor, toString)', () => {
    const t: OwnershipTable = {};
    expect(lookupOwner(t, 'constructor', 0o644)).toEqual({ uid: 0, gid: 0, mode: 0o644 });
    expect(lookupOwner(t, 'toString', 0o755)).toEqual({ uid: 0, gid: 0, mode: 0o755 });
    setOwner(t, '__proto__', { uid: 1, gid: 1, mode: 0o600 });
    expect(Object.getPrototypeOf(t)).toBe(Object.prototype);
    expect(lookupOwner(t, '__proto__', 0o644)).toEqual({ uid: 1, gid: 1, mode: 0o600 });
    expect(JSON.parse(JSON.stringify(t))).toEqual(JSON.parse('{"__proto__":{"uid":1,"gid":1,"mode":384}}'));
  });

  it('recordOwner keeps the table sparse', () => {
    const t: OwnershipTable = {};
    recordOwner(t, 'a', { uid: 0, gid: 0, mode: 0o644 }, 0o100644);
    expect(t).toEqual({});
    recordOwner(t, 'd', { uid: 0, gid: 0, mode: 0o555 }, 0o40755);
    expect(t).toEqual({ d: { uid: 0, gid: 0, mode: 0o555 } });
    recordOwner(t, 'd', { uid: 0, gid: 0, mode: 0o755 }, 0o40755);
    expect(t).toEqual({});
  });

  it('removes and renames whole subtrees, not siblings sharing a prefix', () => {
    const rec = { uid: 1, gid: 1, mode: 0o600 };
    const t: OwnershipTable = { a: rec, 'a/b': rec, 'a/b/c': rec, ab: rec, 'a-b': rec };
    removeOwnerSubtree(t, 'a/b');
    expect(Object.keys(t).sort()).toEqual(['a', 'a-b', 'ab']);
    renameOwnerSubtree(t, 'a', 'z');
    expect(Object.keys(t).sort()).toEqual(['a-b', 'ab', 'z']);
    removeOwnerSubtree(t, '');
    expect(t).toEqual({});
  });

  it('keys are UTF-8 strings, with undecodable bytes escaped so that every name has one key and back', () => {
    expect(keyFromBytes(Buffer.from('usr/bin/ls'))).toBe('usr/bin/ls');
    expect(keyFromBytes(Buffer.from('café'))).toBe('café');
    expect(keyFromBytes(Buffer.from('café').toString('latin1'))).toBe('café');
    const samples = [
      Buffer.from([0x61, 0xe9]),
      Buffer.from([0x61, 0xe8]),
      Buffer.from([0xff, 0xfe, 0x2f, 0x41]),
      Buffer.from([0xed, 0xa0, 0x80]), // an encoded surrogate: not valid UTF-8
      Buffer.from([0xf0, 0x9f, 0x98, 0x80, 0x80]), // an emoji then a stray continuation byte
      Buffer.from([0xc3]),
    ];
    const keys = new Set<string>();
    for (const s of samples) {
      const k = keyFromBytes(s);
      keys.add(k);
      expect(bytesFromKey(k).equals(s)).toBe(true);
      expect(JSON.parse(JSON.stringify(k))).toBe(k);
    }
    expect(keys.size).toBe(samples.length);
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.from(Array.from({ length: 1 + (i % 9) }, () => Math.floor(Math.random() * 256)));
      expect(bytesFromKey(keyFromBytes(b)).equals(b)).toBe(true);
    }
  });
});
