import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, InternalError } from '../shared/errors.js';

const VERSION = 'v1';
const IV_BYTES = 12;

/**
 * Encrypts secrets at rest with AES-256-GCM. A sealed value is `v1:<iv>:<tag>:<ciphertext>`
 * (base64url parts): the version lets a later key rotation tell old values from new. `context`
 * (the connection id, say) is bound as associated data, so a sealed key copied onto another row
 * does not decrypt.
 */
export class SecretBox {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new InternalError('the master key must be 32 bytes');
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, iv, cipher.getAuthTag(), body]
      .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
      .join(':');
  }

  open(sealed: string, context: string): string {
    const [version, iv, tag, body] = sealed.split(':');
    if (version !== VERSION || !iv || !tag || body === undefined) {
      throw new InternalError('a stored secret is not in a format this version of segsync reads');
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([
        decipher.update(Buffer.from(body, 'base64url')),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      throw new ConfigError(
        'a stored secret cannot be decrypted: the master key (SEGSYNC_MASTER_KEY or <data dir>/master.key) is not the one it was encrypted with',
        [
          {
            path: 'SEGSYNC_MASTER_KEY',
            message: 'does not match the key that encrypted the stored secrets',
          },
        ],
      );
    }
  }

  /** A value that identifies the key without revealing it, to detect a changed master key early. */
  fingerprint(): string {
    return createHmac('sha256', this.key)
      .update('segsync master key fingerprint')
      .digest('base64url')
      .slice(0, 16);
  }
}

/**
 * The master key: SEGSYNC_MASTER_KEY when configured, otherwise `<dataDir>/master.key`, created
 * once with mode 0600. Several processes starting at once agree on one file (exclusive create).
 */
export function loadOrCreateMasterKey(configured: Buffer | undefined, dataDir: string): Buffer {
  if (configured) return configured;
  const file = path.join(dataDir, 'master.key');
  fs.mkdirSync(dataDir, { recursive: true });
  try {
    fs.writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const text = fs.readFileSync(file, 'utf8').trim();
  if (!/^[0-9a-f]{64}$/i.test(text)) {
    throw new ConfigError(`${file} does not hold a master key (64 hexadecimal characters)`, [
      { path: 'master.key', message: 'expected 64 hexadecimal characters' },
    ]);
  }
  return Buffer.from(text, 'hex');
}
