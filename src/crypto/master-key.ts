import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import type { Config } from '../config/index.js';

export class MasterKeyError extends Error {
  override name = 'MasterKeyError';
}

/** Accepts base64url/base64 or hex text of at least 32 bytes; whitespace around it is ignored. */
export function decodeMasterKey(text: string): Buffer {
  const trimmed = text.trim();
  const bytes = /^[0-9a-fA-F]+$/.test(trimmed) && trimmed.length % 2 === 0
    ? Buffer.from(trimmed, 'hex')
    : Buffer.from(trimmed, 'base64url');
  if (bytes.length < 32) throw new MasterKeyError('the master secret must hold at least 32 bytes (e.g. `openssl rand -base64 32`)');
  return bytes;
}

export interface MasterKey {
  secret: Buffer;
  /** Where it came from, for the start-up log; never the value. */
  source: 'environment' | 'file' | 'generated';
  generatedPath?: string;
}

/**
 * Loads the operator's master secret. Outside production, with none configured,
 * one is generated into the data directory (mode 0600) so `npm start` works on a
 * fresh clone; production configuration refuses to reach this branch.
 */
async function readConfigured(source: NonNullable<Config['masterKey']>, variable: string): Promise<Buffer> {
  if ('value' in source) return decodeMasterKey(source.value);
  const text = await readFile(source.file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new MasterKeyError(`cannot read ${variable}_FILE (${error.code ?? 'error'})`);
  });
  return decodeMasterKey(text);
}

/** The previous master secret during a rotation (decrypt-only), if configured. */
export async function loadPreviousMasterKeys(config: Pick<Config, 'previousMasterKey'>): Promise<Buffer[]> {
  return config.previousMasterKey ? [await readConfigured(config.previousMasterKey, 'GATEHOUSE_MASTER_KEY_PREVIOUS')] : [];
}

export async function loadMasterKey(config: Pick<Config, 'masterKey' | 'dataDir' | 'env'>): Promise<MasterKey> {
  const source = config.masterKey;
  if (source) return { secret: await readConfigured(source, 'GATEHOUSE_MASTER_KEY'), source: 'value' in source ? 'environment' : 'file' };
  if (config.env === 'production') throw new MasterKeyError('production requires GATEHOUSE_MASTER_KEY or GATEHOUSE_MASTER_KEY_FILE');

  const file = path.join(config.dataDir, 'master.key');
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  try {
    return { secret: decodeMasterKey(await readFile(file, 'utf8')), source: 'generated', generatedPath: file };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const secret = randomBytes(32);
  // 'wx' fails if another process created it in between; then read theirs.
  await writeFile(file, `${secret.toString('base64url')}\n`, { mode: 0o600, flag: 'wx' }).catch(async (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  return { secret: decodeMasterKey(await readFile(file, 'utf8')), source: 'generated', generatedPath: file };
}
