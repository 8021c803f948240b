import { describe, expect, it } from 'vitest';
import { ConflictError, ValidationError } from '../shared/errors.js';
import { connectionFlags, exportFlags, inFlagTerms } from './flag-names.js';

describe('inFlagTerms', () => {
  it('names the flags the user typed instead of the service fields', () => {
    const error = ValidationError.fromIssues('invalid export', [
      { path: 'segmentIds[1]', message: 'expected a string' },
      { path: 'mapping.customFields.loyalty', message: 'unknown profile attribute "tier"' },
      { path: 'mapping.fields.city', message: 'unknown profile attribute "town"' },
      { path: 'listId', message: 'expected a SendGrid list id (a UUID)' },
      { path: 'rule.all[0]', message: 'left as it is' },
    ]);
    const named = inFlagTerms(error, exportFlags) as ValidationError;
    expect(named.message).toBe(
      'invalid export: --segment: expected a string; --map custom:loyalty: unknown profile attribute "tier"; --map city: unknown profile attribute "town"; --list-id: expected a SendGrid list id (a UUID); rule.all[0]: left as it is',
    );
    expect(named.code).toBe(error.code);
    const limit = ValidationError.fromIssues('invalid connection', [
      { path: 'profileLimit', message: 'expected a whole number' },
    ]);
    expect((inFlagTerms(limit, connectionFlags) as Error).message).toBe(
      'invalid connection: --limit: expected a whole number',
    );
  });

  it('leaves other errors, and validation errors without issues, as they are', () => {
    const conflict = new ConflictError('taken');
    expect(inFlagTerms(conflict, exportFlags)).toBe(conflict);
    const plain = new ValidationError('give either --csv or --json, not both');
    expect(inFlagTerms(plain, exportFlags)).toBe(plain);
    // A message written whole, with issues beside it for the API: kept as written.
    const written = new ValidationError('give the API key one way only', [
      { path: 'apiKey', message: 'given more than one way' },
    ]);
    expect(inFlagTerms(written, connectionFlags)).toBe(written);
  });
});
