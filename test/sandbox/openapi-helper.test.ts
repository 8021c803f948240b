import { describe, expect, it } from 'vitest';
import {
  findSendGridOperation,
  validateSendGridRequest,
  validateSendGridResponse,
} from '../helpers/openapi.js';

// The contract checker must be able to fail, or the contract tests prove nothing.
describe('SendGrid OpenAPI contract checker', () => {
  it('matches concrete paths to templates, literal segments first', () => {
    expect(findSendGridOperation('GET', '/v3/marketing/contacts/count')?.pathTemplate).toBe(
      '/v3/marketing/contacts/count',
    );
    expect(
      findSendGridOperation('GET', '/v3/marketing/lists/abc?contact_sample=true'),
    ).toMatchObject({
      pathTemplate: '/v3/marketing/lists/{id}',
      pathParams: { id: 'abc' },
    });
    expect(findSendGridOperation('PUT', '/v3/nowhere')).toBeUndefined();
  });

  it('reports responses that break the documented schema or status', () => {
    expect(validateSendGridResponse('GET', '/v3/scopes', 200, { scopes: 'all' })).toHaveLength(1);
    expect(
      validateSendGridResponse('GET', '/v3/marketing/lists/x', 404, { errors: [] })[0],
    ).toMatch(/must be array/);
    expect(validateSendGridResponse('POST', '/v3/marketing/lists', 200, {})[0]).toMatch(
      /not documented/,
    );
    expect(
      validateSendGridResponse('GET', '/v3/marketing/lists', 429, { message: 'slow down' }),
    ).not.toEqual([]);
    expect(
      validateSendGridResponse('GET', '/v3/marketing/lists', 429, {
        errors: [{ field: null, message: 'too many requests' }],
      }),
    ).toEqual([]);
  });

  it('reports requests with misspelt keys, bad values and missing parameters', () => {
    expect(
      validateSendGridRequest('PUT', '/v3/marketing/contacts', {
        body: { listIds: [], contacts: [{ email: 'a@example.com', custom_fields: { e1_T: 'x' } }] },
      }),
    ).toEqual(['PUT /v3/marketing/contacts body: must NOT have additional properties (listIds)']);
    expect(
      validateSendGridRequest('PUT', '/v3/marketing/contacts', {
        body: { list_ids: ['nope'], contacts: [{ first_name: 'n'.repeat(51) }] },
      }),
    ).toHaveLength(2);
    expect(validateSendGridRequest('DELETE', '/v3/marketing/lists/x/contacts')).toEqual([
      'DELETE /v3/marketing/lists/x/contacts: query parameter contact_ids is required',
    ]);
    expect(
      validateSendGridRequest('GET', '/v3/marketing/lists', { query: { page_size: '1000' } }),
    ).toEqual([]);
  });
});
