import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadOrCreateMasterKey, SecretBox } from './secret-box.js';

const KEY = 'SG.abcdefghijklmnopqrstuv.ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq';

describe('SecretBox', () => {
  const box = new SecretBox(Buffer.alloc(32, 1));

  it('round-trips and never stores the secret in clear', () => {
    const sealed = box.seal(KEY, 'con_1');
    expect(sealed).not.toContain(KEY);
    expect(sealed).not.toContain('nopq');
    expect(box.open(sealed, 'con_1')).toBe(KEY);
    expect(box.seal(KEY, 'con_1')).not.toBe(sealed); // a fresh IV every time
  });

  it('refuses another context, a tampered value and another key', () => {
    const sealed = box.seal(KEY, 'con_1');
    expect(() => box.open(sealed, 'con_2')).toThrow(/master key/);
    const tampered = sealed.slice(0, -2) + (sealed.endsWith('A') ? 'BB' : 'AA');
    expect(() => box.open(tampered, 'con_1')).toThrow(/cannot be decrypted/);
    expect(() => new SecretBox(Buffer.alloc(32, 2)).open(sealed, 'con_1')).toThrow(
      /SEGSYNC_MASTER_KEY/,
    );
    expect(box.fingerprint()).not.toBe(new SecretBox(Buffer.alloc(32, 2)).fingerprint());
  });
});

describe('loadOrCreateMasterKey', () => {
  it('prefers the configured key', () => {
    expect(loadOrCreateMasterKey(Buffer.alloc(32, 9), '/nonexistent')).toEqual(Buffer.alloc(32, 9));
  });

  it('creates master.key once with mode 0600 and reuses it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segsync-key-'));
    const first = loadOrCreateMasterKey(undefined, dir);
    const second = loadOrCreateMasterKey(undefined, dir);
    expect(first).toEqual(second);
    expect(first.length).toBe(32);
    expect(fs.statSync(path.join(dir, 'master.key')).mode & 0o777).toBe(0o600);
    fs.writeFileSync(path.join(dir, 'master.key'), 'garbage');
    expect(() => loadOrCreateMasterKey(undefined, dir)).toThrow(/does not hold a master key/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
