/**
 * Secrets (SendGrid keys, passwords, tokens) leave the process only masked. The mask keeps the
 * key's family prefix and last four characters (`SG.****wxyz`) so a user can tell keys apart.
 */

const MASK = '****';

/** The masked form of a secret: `SG.****wxyz`, or `****` for short or prefix-less values. */
export function maskSecret(secret: string): string {
  const prefix = secret.startsWith('SG.') ? 'SG.' : '';
  const rest = secret.slice(prefix.length);
  if (rest.length < 12) return `${prefix}${MASK}`;
  return `${prefix}${MASK}${rest.slice(-4)}`;
}

/** Whether `value` is a mask as produced by maskSecret (an edit sending it back keeps the secret). */
export function isMasked(value: string): boolean {
  return /^(SG\.)?\*{4}[^*]{0,4}$/.test(value);
}

// SendGrid keys look like SG.<22 chars>.<43 chars>; match generously so variants are caught too.
const SENDGRID_KEY = /SG\.[A-Za-z0-9_-]{6,}(?:\.[A-Za-z0-9_-]{6,})?/g;
const BEARER = /(Bearer\s+)[^\s"',]+/gi;
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/\s@]*:)[^@\s/]+@/gi;

/** Replaces anything that looks like a secret inside free text (an error message, a log line). */
export function redactSecretsInText(text: string): string {
  return text
    .replace(SENDGRID_KEY, (key) => maskSecret(key))
    .replace(BEARER, `$1${MASK}`)
    .replace(URL_PASSWORD, `$1${MASK}@`);
}

const SECRET_FIELD = /(api[_-]?key|secret|password|passwd|token|authorization|master[_-]?key)/i;

/** Deep copy of `value` with secret-named fields masked and secret-looking strings redacted. */
export function scrubSecrets(value: unknown, depth = 0): unknown {
  if (depth > 8) return '[nested]';
  if (typeof value === 'string') return redactSecretsInText(value);
  if (Array.isArray(value)) return value.map((item) => scrubSecrets(item, depth + 1));
  if (value instanceof Error) {
    return {
      type: value.name,
      message: redactSecretsInText(value.message),
      stack: value.stack ? redactSecretsInText(value.stack) : undefined,
    };
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      out[key] =
        SECRET_FIELD.test(key) && typeof item === 'string'
          ? maskSecret(item)
          : scrubSecrets(item, depth + 1);
    }
    return out;
  }
  return value;
}
