import { describe, expect, it } from 'vitest';
import { sendgridDestination } from '../destinations/sendgrid/sendgrid.js';
import { mapContact, type ContactMapping } from './contact-mapping.js';

const mapping: ContactMapping = {
  email: 'email',
  fields: { first_name: 'given', city: 'town' },
  customFields: [
    { name: 'spend', id: 'w1', type: 'number', attribute: 'total_spend' },
    { name: 'tier', id: 'e2_T', type: 'text', attribute: 'tier' },
    { name: 'birthday', id: 'e3_D', type: 'date', attribute: 'born' },
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

  it('sends empty text fields only to the contact the export delivered before, to clear them', () => {
    const attributes = { email: 'Ana@x.es', given: '', town: null, tier: undefined, born: '' };
    // A contact new to the export: what the list holds in those fields stays.
    const fresh = mapContact(attributes, mapping, sendgridDestination);
    expect(fresh.ok && fresh.contact).toEqual({ email: 'ana@x.es', fields: {}, customFields: {} });
    const other = mapContact(attributes, mapping, sendgridDestination, 'old@x.es');
    expect(other.ok && other.contact.fields).toEqual({});
    // Its own contact: the values its profile lost are cleared (text only; dates cannot be).
    const own = mapContact(attributes, mapping, sendgridDestination, 'ana@x.es');
    expect(own.ok && own.contact).toEqual({
      email: 'ana@x.es',
      fields: { first_name: '', city: '' },
      customFields: { e2_T: '' },
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

  it('cuts an over-long field of emoji to fit SendGrid however it counts, never splitting one', () => {
    // 30 emoji are 30 code points but 60 UTF-16 units: too long for a 50-character field.
    const result = mapContact(
      { email: 'a@b.co', given: '😀'.repeat(30), town: `${'x'.repeat(59)}😀` },
      mapping,
      sendgridDestination,
    );
    expect(result.ok && result.contact.fields).toEqual({
      first_name: '😀'.repeat(25),
      city: 'x'.repeat(59),
    });
    expect(result.ok && result.warnings).toEqual([
      'first_name truncated to 50 characters',
      'city truncated to 60 characters',
    ]);
  });

  it('cuts an over-long field only between characters as people see them', () => {
    // A letter with a combining accent, and a family emoji joined from three.
    const accent = mapContact(
      { email: 'a@b.co', given: `x${'e\u0301'.repeat(30)}` },
      mapping,
      sendgridDestination,
    );
    expect(accent.ok && accent.contact.fields.first_name).toBe(`x${'e\u0301'.repeat(24)}`);
    const family = '👨\u200d👩\u200d👧';
    const joined = mapContact(
      { email: 'a@b.co', given: `${'a'.repeat(48)}${family}` },
      mapping,
      sendgridDestination,
    );
    expect(joined.ok && joined.contact.fields.first_name).toBe('a'.repeat(48));
  });

  it('sends dates SendGrid takes and leaves out other values of a date field, with a warning', () => {
    for (const born of ['1990-04-23', '1990-04-23T10:30:00Z', '04/23/1990']) {
      const result = mapContact({ email: 'a@b.co', born }, mapping, sendgridDestination);
      expect(result.ok && result.contact.customFields).toEqual({ e3_D: born });
    }
    for (const born of ['soon', '1990-13-45', 19900423, true]) {
      const result = mapContact({ email: 'a@b.co', born }, mapping, sendgridDestination);
      expect(result.ok && result.contact.customFields).toEqual({});
      expect(result.ok && result.warnings).toEqual([
        `custom field birthday left out: ${JSON.stringify(born)} is not a date`,
      ]);
    }
  });

  it('leaves out a custom number that is not a number, with a warning', () => {
    // Decimal text only: not JavaScript's other readings of text (hex, binary, Infinity).
    for (const total_spend of ['lots', '0x1F', '0b11', 'Infinity', true]) {
      const result = mapContact({ email: 'a@b.co', total_spend }, mapping, sendgridDestination);
      expect(result.ok && result.contact.customFields).toEqual({});
      expect(result.ok && result.warnings[0]).toMatch(/custom field spend left out/);
    }
    const text = mapContact(
      { email: 'a@b.co', total_spend: ' 12.5 ' },
      mapping,
      sendgridDestination,
    );
    expect(text.ok && text.contact.customFields).toEqual({ w1: 12.5 });
  });

  it('takes internationalised top-level domains in their ASCII form', () => {
    expect(mapContact({ email: 'user@example.xn--p1ai' }, mapping, sendgridDestination).ok).toBe(
      true,
    );
    expect(mapContact({ email: 'user@example.xn--' }, mapping, sendgridDestination).ok).toBe(false);
  });
});
