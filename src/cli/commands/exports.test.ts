import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../shared/errors.js';
import { exitCodeForRun, parseMappings } from './exports.js';

describe('exports CLI', () => {
  it('reads --map flags into the data matching', () => {
    expect(
      parseMappings([
        'email=mail',
        'first_name=given',
        'custom:loyalty_tier=tier',
        'postal_code=zip',
      ]),
    ).toEqual({
      email: 'mail',
      fields: { first_name: 'given', postal_code: 'zip' },
      customFields: { loyalty_tier: 'tier' },
    });
  });

  it('names a bad --map flag', () => {
    expect(() => parseMappings(['nickname=nick'])).toThrow(ValidationError);
    expect(() => parseMappings(['nickname=nick'])).toThrow(
      /--map nickname=nick: unknown field "nickname"/,
    );
    expect(() => parseMappings(['email'])).toThrow(/expected FIELD=ATTRIBUTE/);
    // SendGrid's custom field names are one whatever their case.
    expect(() => parseMappings(['custom:tier=a', 'custom:Tier=b'])).toThrow(
      /--map custom:Tier=b: custom:Tier is mapped more than once/,
    );
    expect(() => parseMappings(['custom:__proto__=a'])).toThrow(/__proto__ cannot be mapped/);
  });

  it('maps a run to the exit codes scripts rely on', () => {
    const run = (status: string) => ({ status }) as Parameters<typeof exitCodeForRun>[0];
    expect(exitCodeForRun(run('succeeded'))).toBe(0);
    expect(exitCodeForRun(run('partially_succeeded'))).toBe(3);
    expect(exitCodeForRun(run('failed'))).toBe(1);
    expect(exitCodeForRun(run('canceled'))).toBe(1);
  });
});
