import { describe, expect, it } from 'vitest';
import { sendgridDestination } from '../destinations/sendgrid/sendgrid.js';
import { mapContact, type ContactMapping } from './contact-mapping.js';

const mapping: ContactMapping = {
  email: 'email',
  fields: { first_name: 'given', city: 'town' },
  customFields: [
    { name: 'spend', id: 'w1', type: 'number', attribute: 'total_spend' },
    { name: 'tier', id: 'e2_T', type: 'text', attribute: 'tier' },
  ],
};

describe('mapContact', () => {
  it('normalises the email and fills reserved and custom fields by id', () => {
    const result = mapContact(
      {
        email: '  Ana.Garcia@Example.ES ',
        given: 'Ana',
        town: 'Sevilla',
        total_spend: 512.5,
        tier: 'gold',
      },
      mapping,
      sendgridDestination,
    );
    expect(result).toEqual({
      ok: true,
      contact: {
        email: 'ana.garcia@example.es',
        fields: { first_name: 'Ana', city: 'Sevilla' },
        customFields: { w1: 512.5, e2_T: 'gold' },
      },
      warnings: [],
    });
  });

  it('skips profiles without an email or with an invalid one, saying why', () => {
    expect(mapContact({ given: 'Ana' }, mapping, sendgridDestination)).toMatchObject({
      ok: false,
      code: 'missing_email',
    });
    expect(mapContact({ email: 'not an email' }, mapping, sendgridDestination)).toMatchObject({
      ok: false,
      code: 'invalid_email',
      reason: 'invalid email address "not an email"',
    });
    expect(
      mapContact({ email: `${'a'.repeat(250)}@x.com` }, mapping, sendgridDestination),
    ).toMatchObject({
      ok: false,
      code: 'invalid_email',
    });
  });

  it('truncates an over-long optional field with a warning, counting characters not bytes', () => {
    const result = mapContact(
      { email: 'a@b.co', given: 'ñ'.repeat(60) },
      mapping,
      sendgridDestination,
    );
    expect(result.ok && result.contact.fields.first_name).toBe('ñ'.repeat(50));
    expect(result.ok && result.warnings).toEqual(['first_name truncated to 50 characters']);
  });

  it('leaves out a custom number that is not a number, with a warning', () => {
    const result = mapContact(
      { email: 'a@b.co', total_spend: 'lots' },
      mapping,
      sendgridDestination,
    );
    expect(result.ok && result.contact.customFields).toEqual({});
    expect(result.ok && result.warnings[0]).toMatch(/custom field spend left out/);
  });
});
