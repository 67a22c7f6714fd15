import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { createCsrf } from '../../src/interactions/csrf.js';
import { decodeMasterKey, loadMasterKey } from '../../src/crypto/master-key.js';
import { createSecretBox } from '../../src/crypto/secret-box.js';

const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
const tempDir = async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gh-unit-'));
  dirs.push(dir);
  return dir;
};

describe('secret box (AES-256-GCM under HKDF-derived keys)', () => {
  const box = createSecretBox(Buffer.alloc(32, 7));

  it('round-trips and never repeats a ciphertext', () => {
    const a = box.seal('client-secret', 'client-1', 'hunter2-hunter2');
    const b = box.seal('client-secret', 'client-1', 'hunter2-hunter2');
    expect(a).not.toBe(b);
    expect(a).not.toContain('hunter2');
    expect(box.open('client-secret', 'client-1', a)).toBe('hunter2-hunter2');
  });

  it('refuses a ciphertext moved to another row, another purpose, another master key, or tampered', () => {
    const sealed = box.seal('client-secret', 'client-1', 'value');
    expect(() => box.open('client-secret', 'client-2', sealed)).toThrow(/does not decrypt/);
    expect(() => box.open('signing-key', 'client-1', sealed)).toThrow(/does not decrypt/);
    expect(() => createSecretBox(Buffer.alloc(32, 8)).open('client-secret', 'client-1', sealed)).toThrow(/does not have/);
    const [v, id, iv, body] = sealed.split('.');
    const flipped = `${body!.slice(0, 2)}${body![2] === 'A' ? 'B' : 'A'}${body!.slice(3)}`;
    expect(() => box.open('client-secret', 'client-1', `${v}.${id}.${iv}.${flipped}`)).toThrow(/does not decrypt/);
    expect(() => box.open('client-secret', 'client-1', 'garbage')).toThrow(/format/);
    expect(() => box.open('client-secret', 'client-1', `v1.${id}.AAAA.AA`)).toThrow(/too short/);
  });

  it('opens ciphertexts of a previous master key during a rotation and seals under the new one', () => {
    const oldKey = Buffer.alloc(32, 7);
    const newKey = Buffer.alloc(32, 1);
    const sealedOld = box.seal('totp-seed', 'acc', 'seed');
    const rotating = createSecretBox(newKey, [oldKey]);
    expect(rotating.open('totp-seed', 'acc', sealedOld)).toBe('seed');
    const resealed = rotating.seal('totp-seed', 'acc', 'seed');
    expect(rotating.keyIdOf(resealed)).toBe(rotating.currentKeyId);
    expect(rotating.keyIdOf(sealedOld)).toBe(box.currentKeyId);
    expect(() => box.open('totp-seed', 'acc', resealed)).toThrow(/does not have/);
    expect(rotating.deriveKeys('cookie-signing')).toHaveLength(2);
    expect(rotating.deriveKeys('cookie-signing')[1]!.equals(box.deriveKey('cookie-signing'))).toBe(true);
  });

  it('derives stable, purpose-separated keys', () => {
    expect(box.deriveKey('cookie-signing').equals(createSecretBox(Buffer.alloc(32, 7)).deriveKey('cookie-signing'))).toBe(true);
    expect(box.deriveKey('cookie-signing').equals(box.deriveKey('csrf'))).toBe(false);
  });
});

describe('master key', () => {
  it('accepts base64url and hex of at least 32 bytes and refuses shorter', () => {
    expect(decodeMasterKey(Buffer.alloc(32, 1).toString('base64url')).length).toBe(32);
    expect(decodeMasterKey(`${'ab'.repeat(32)}\n`).length).toBe(32);
    expect(() => decodeMasterKey('short')).toThrow(/at least 32 bytes/);
  });

  it('generates one development key with mode 0600 and reuses it', async () => {
    const dataDir = await tempDir();
    const first = await loadMasterKey({ env: 'development', dataDir, masterKey: undefined });
    const second = await loadMasterKey({ env: 'development', dataDir, masterKey: undefined });
    expect(first.source).toBe('generated');
    expect(first.secret.equals(second.secret)).toBe(true);
    expect((await stat(path.join(dataDir, 'master.key'))).mode & 0o777).toBe(0o600);
  });

  it('reads a mounted file, refuses production without a key and reports an unreadable file without its path contents', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'key');
    await writeFile(file, Buffer.alloc(40, 3).toString('base64url'));
    expect((await loadMasterKey({ env: 'production', dataDir: dir, masterKey: { file } })).secret.length).toBe(40);
    await expect(loadMasterKey({ env: 'production', dataDir: dir, masterKey: undefined })).rejects.toThrow(/production requires/);
    await expect(loadMasterKey({ env: 'development', dataDir: dir, masterKey: { file: path.join(dir, 'missing') } })).rejects.toThrow(/cannot read GATEHOUSE_MASTER_KEY_FILE \(ENOENT\)/);
    expect(await readFile(file, 'utf8')).toBeTruthy();
  });
});

describe('interaction CSRF tokens', () => {
  const csrf = createCsrf([Buffer.alloc(32, 9)]);
  it('verifies the token of its own interaction only, in constant time over equal lengths', () => {
    const token = csrf.tokenFor('uid-a');
    expect(csrf.verify('uid-a', token)).toBe(true);
    expect(csrf.verify('uid-b', token)).toBe(false);
    expect(csrf.verify('uid-a', `${token}x`)).toBe(false);
    expect(csrf.verify('uid-a', undefined)).toBe(false);
    expect(csrf.verify('uid-a', ['array'])).toBe(false);
  });

  it('accepts tokens signed under a previous key during a master-secret rotation', () => {
    const rotated = createCsrf([Buffer.alloc(32, 1), Buffer.alloc(32, 9)]);
    expect(rotated.verify('uid-a', csrf.tokenFor('uid-a'))).toBe(true);
    expect(rotated.tokenFor('uid-a')).not.toBe(csrf.tokenFor('uid-a'));
    expect(csrf.verify('uid-a', rotated.tokenFor('uid-a'))).toBe(false);
  });
});
