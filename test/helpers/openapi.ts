/**
 * SendGrid's official OpenAPI documents as a contract checker. The documents are read from
 * `../shared/sendgrid/openapi` beside the repository (or `SEGSYNC_SENDGRID_OPENAPI_DIR`) and never
 * copied into it. The sandbox's contract tests validate every response with these functions, and
 * the export engine's tests validate every request its SendGrid client sends.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsImport from 'ajv-formats';
import { repoRoot } from './cli.js';

// ajv-formats is CommonJS: under NodeNext its default import is the module object.
const addFormats = addFormatsImport as unknown as (ajv: Ajv2020) => Ajv2020;

/** The folder the documents are read from. */
export const sendGridOpenApiDir = path.resolve(
  process.env.SEGSYNC_SENDGRID_OPENAPI_DIR ?? path.join(repoRoot, '../shared/sendgrid/openapi'),
);

/** The current per-area documents (see SOURCE.txt there); the older set is not a standalone one. */
const DOCUMENT_FILES = [
  'tsg_mc_contacts_v3.json',
  'tsg_mc_lists_v3.json',
  'tsg_mc_custom_fields_v3.json',
  'tsg_scopes_v3.json',
] as const;

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

type Json = Record<string, unknown>;

interface Operation {
  document: string;
  method: string;
  pathTemplate: string;
  /** JSON pointer of the operation inside its document. */
  pointer: string;
  spec: Json;
  pathLevelParameters: unknown[];
}

/** A documented operation that a concrete request path matched, with its path parameters. */
export interface SendGridOperationMatch {
  document: string;
  method: string;
  pathTemplate: string;
  pathParams: Record<string, string>;
}

// The errors SendGrid returns on any endpoint (401, 403, 413, 429, 5xx) are described once in the
// documents' prose rather than per path: for a status a path does not document, a response is
// held to this envelope (see ../shared/SENDGRID.md, "Conventions").
export const GENERIC_ERROR_SCHEMA = {
  type: 'object',
  required: ['errors'],
  properties: {
    errors: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['message'],
        properties: { message: { type: 'string' }, field: { type: ['string', 'null'] } },
      },
    },
  },
};

interface Loaded {
  operations: Operation[];
  documents: Map<string, Json>;
  lenient: Ajv2020;
  strict: Ajv2020;
  compiled: Map<string, ValidateFunction>;
}

let loaded: Loaded | undefined;

function load(): Loaded {
  if (loaded) return loaded;
  const documents = new Map<string, Json>();
  const operations: Operation[] = [];
  // Two validators: one as the documents say, one that also refuses properties they do not list,
  // because SendGrid silently ignores a misspelt key (`listIds`) and only a strict check sees it.
  const lenient = newAjv();
  const strict = newAjv();
  for (const file of DOCUMENT_FILES) {
    const full = path.join(sendGridOpenApiDir, file);
    if (!fs.existsSync(full)) {
      throw new Error(
        `SendGrid OpenAPI document ${full} not found; set SEGSYNC_SENDGRID_OPENAPI_DIR to the folder holding ${DOCUMENT_FILES.join(', ')}`,
      );
    }
    const document = JSON.parse(fs.readFileSync(full, 'utf8')) as Json;
    documents.set(file, document);
    lenient.addSchema(normalise(structuredClone(document), false) as Json, file, undefined, false);
    strict.addSchema(normalise(structuredClone(document), true) as Json, file, undefined, false);
    const paths = (document.paths ?? {}) as Record<string, Json>;
    for (const [pathTemplate, item] of Object.entries(paths)) {
      for (const method of HTTP_METHODS) {
        const spec = item[method] as Json | undefined;
        if (!spec) continue;
        operations.push({
          document: file,
          method: method.toUpperCase(),
          pathTemplate,
          pointer: `/paths/${escapePointer(pathTemplate)}/${method}`,
          spec,
          pathLevelParameters: (item.parameters as unknown[] | undefined) ?? [],
        });
      }
    }
  }
  loaded = { operations, documents, lenient, strict, compiled: new Map() };
  return loaded;
}

function newAjv(): Ajv2020 {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  return ajv;
}

// OpenAPI 3.0's `nullable: true` survives in these 3.1 documents; JSON Schema 2020 spells it as a
// `null` member of `type`. With `closeObjects`, objects listing their properties refuse others,
// except `custom_fields`, whose one documented property (`w1`) only illustrates free-form ids.
function normalise(node: unknown, closeObjects: boolean, key = ''): unknown {
  if (Array.isArray(node)) {
    node.forEach((item) => normalise(item, closeObjects));
    return node;
  }
  if (node === null || typeof node !== 'object') return node;
  const schema = node as Json;
  if (schema.nullable === true && typeof schema.type === 'string') {
    schema.type = [schema.type, 'null'];
    delete schema.nullable;
  }
  if (
    closeObjects &&
    key !== 'custom_fields' &&
    schema.type === 'object' &&
    typeof schema.properties === 'object' &&
    schema.additionalProperties === undefined &&
    schema.patternProperties === undefined &&
    schema.allOf === undefined &&
    schema.anyOf === undefined &&
    schema.oneOf === undefined
  ) {
    schema.additionalProperties = false;
  }
  for (const [childKey, child] of Object.entries(schema)) {
    // Under `properties`, keys are property names: pass them down so `custom_fields` is known.
    if (childKey === 'properties' && child && typeof child === 'object') {
      for (const [name, property] of Object.entries(child as Json)) {
        normalise(property, closeObjects, name);
      }
    } else if (childKey !== 'example' && childKey !== 'examples') {
      normalise(child, closeObjects, childKey);
    }
  }
  return schema;
}

function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

function resolveRef(document: Json, value: unknown): Json | undefined {
  let current = value as Json | undefined;
  for (let depth = 0; current && typeof current.$ref === 'string' && depth < 10; depth++) {
    const ref = current.$ref;
    if (!ref.startsWith('#/')) return undefined;
    let target: unknown = document;
    for (const part of ref.slice(2).split('/')) {
      target = (target as Json | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    }
    current = target as Json | undefined;
  }
  return current;
}

function compile(
  ajv: Ajv2020,
  cache: Map<string, ValidateFunction>,
  ref: string,
  strictKey: string,
) {
  const cacheKey = `${strictKey}${ref}`;
  let validate = cache.get(cacheKey);
  if (!validate) {
    validate = ajv.compile({ $ref: ref });
    cache.set(cacheKey, validate);
  }
  return validate;
}

function describeErrors(validate: ValidateFunction, where: string): string[] {
  return (validate.errors ?? []).map((error) => {
    const extra =
      error.keyword === 'additionalProperties'
        ? ` (${String((error.params as { additionalProperty?: string }).additionalProperty)})`
        : '';
    const at = error.instancePath === '' ? '' : ` at ${error.instancePath}`;
    return `${where}${at}: ${error.message ?? error.keyword}${extra}`;
  });
}

/**
 * The documented operation for `method` and a path, given either as the document's template
 * (`/v3/marketing/lists/{id}`) or as a concrete path (`/v3/marketing/lists/3f…`, query ignored).
 * Literal segments win over templated ones (`/contacts/count` over `/contacts/{id}`).
 */
export function findSendGridOperation(
  method: string,
  pathOrTemplate: string,
): SendGridOperationMatch | undefined {
  const found = findOperation(method, pathOrTemplate);
  if (!found) return undefined;
  const { operation, pathParams } = found;
  return {
    document: operation.document,
    method: operation.method,
    pathTemplate: operation.pathTemplate,
    pathParams,
  };
}

function findOperation(
  method: string,
  pathOrTemplate: string,
): { operation: Operation; pathParams: Record<string, string> } | undefined {
  const wanted = method.toUpperCase();
  const pathname = pathOrTemplate.split('?')[0] ?? '';
  const parts = pathname.replace(/\/+$/, '').split('/');
  let best:
    { operation: Operation; pathParams: Record<string, string>; literals: number } | undefined;
  for (const operation of load().operations) {
    if (operation.method !== wanted) continue;
    const templateParts = operation.pathTemplate.split('/');
    if (templateParts.length !== parts.length) continue;
    const pathParams: Record<string, string> = {};
    let literals = 0;
    let fits = true;
    for (let i = 0; i < parts.length && fits; i++) {
      const template = templateParts[i] ?? '';
      const part = parts[i] ?? '';
      if (template === part) literals++;
      else if (/^\{\w+\}$/.test(template))
        pathParams[template.slice(1, -1)] = decodeURIComponent(part);
      else fits = false;
    }
    if (fits && (!best || literals > best.literals)) best = { operation, pathParams, literals };
  }
  return best && { operation: best.operation, pathParams: best.pathParams };
}

/** Options of validateSendGridResponse. */
export interface ResponseValidationOptions {
  /**
   * Hold an undocumented error status (401 on a lists path, any 413 or 429) to SendGrid's generic
   * error envelope instead of reporting it as undocumented. Default true.
   */
  genericErrors?: boolean;
}

/**
 * Problems with a SendGrid response (empty when it conforms): the status must be documented for
 * the operation (or be an error in SendGrid's generic envelope) and `body`, already parsed from
 * JSON (undefined for none), must match that status's schema.
 */
export function validateSendGridResponse(
  method: string,
  pathOrTemplate: string,
  status: number,
  body: unknown,
  options: ResponseValidationOptions = {},
): string[] {
  const where = `${method.toUpperCase()} ${pathOrTemplate} -> ${status}`;
  const found = findOperation(method, pathOrTemplate);
  if (!found) return [`${where}: no such operation in the SendGrid documents`];
  const { operation } = found;
  const { lenient, compiled, documents } = load();
  const document = documents.get(operation.document) ?? {};
  const responses = (operation.spec.responses ?? {}) as Json;
  const key =
    String(status) in responses ? String(status) : 'default' in responses ? 'default' : undefined;
  if (key === undefined) {
    if (status >= 400 && options.genericErrors !== false) {
      let validate = compiled.get('generic');
      if (!validate) {
        validate = lenient.compile(GENERIC_ERROR_SCHEMA);
        compiled.set('generic', validate);
      }
      return validate(body) ? [] : describeErrors(validate, `${where} (generic error) body`);
    }
    return [`${where}: status ${status} is not documented for ${operation.pathTemplate}`];
  }
  const response = resolveRef(document, responses[key]);
  const content = response?.content as Json | undefined;
  const media = content?.['application/json'] as Json | undefined;
  // A 204 carries no content (HTTP says so), whatever schema a document gives it: `DELETE
  // /v3/marketing/lists/{id}` types its 204 as a JSON string.
  if (!media?.schema || status === 204) {
    return body === undefined || body === '' ? [] : [`${where}: the document allows no body`];
  }
  const pointer = `${operation.pointer}/responses/${key}`;
  // Follow a response-level $ref (`#/components/responses/X`) so the pointer reaches a schema.
  const responseRef = (responses[key] as Json).$ref;
  const schemaPointer =
    typeof responseRef === 'string'
      ? `${responseRef.slice(1)}/content/application~1json/schema`
      : `${pointer}/content/application~1json/schema`;
  const validate = compile(lenient, compiled, `${operation.document}#${schemaPointer}`, 'lenient');
  return validate(body) ? [] : describeErrors(validate, `${where} body`);
}

/** Options of validateSendGridRequest. */
export interface RequestValidationOptions {
  /** Accept body properties the documents do not list. Default false: a misspelt key is a problem. */
  allowUnknownProperties?: boolean;
}

/**
 * Problems with a request to SendGrid (empty when it conforms): the operation must exist, path
 * and query parameters must fit their schemas (required ones present), and the JSON body must
 * match the request body schema, with unlisted properties refused unless allowed.
 */
export function validateSendGridRequest(
  method: string,
  pathOrTemplate: string,
  request: { query?: URLSearchParams | Record<string, string>; body?: unknown } = {},
  options: RequestValidationOptions = {},
): string[] {
  const where = `${method.toUpperCase()} ${pathOrTemplate}`;
  const found = findOperation(method, pathOrTemplate);
  if (!found) return [`${where}: no such operation in the SendGrid documents`];
  const { operation, pathParams } = found;
  const { lenient, strict, compiled, documents } = load();
  const document = documents.get(operation.document) ?? {};
  const problems: string[] = [];

  const queryString = pathOrTemplate.includes('?')
    ? pathOrTemplate.slice(pathOrTemplate.indexOf('?') + 1)
    : '';
  const query = new URLSearchParams(queryString);
  const given =
    request.query instanceof URLSearchParams
      ? request.query
      : new URLSearchParams(request.query ?? {});
  for (const [name, value] of given) query.append(name, value);

  const parameters = [
    ...operation.pathLevelParameters,
    ...((operation.spec.parameters as unknown[]) ?? []),
  ]
    .map((p) => resolveRef(document, p))
    .filter((p): p is Json => p !== undefined);
  for (const parameter of parameters) {
    const name = String(parameter.name);
    const location = parameter.in;
    if (location !== 'query' && location !== 'path') continue;
    const value = location === 'path' ? pathParams[name] : (query.get(name) ?? undefined);
    if (value === undefined) {
      if (parameter.required === true)
        problems.push(`${where}: ${location} parameter ${name} is required`);
      continue;
    }
    if (location === 'path' && /^\{\w+\}$/.test(value)) continue; // a template, not a value
    const schema = resolveRef(document, parameter.schema) ?? {};
    const validate = lenient.compile(schema);
    const coerced = coerce(value, schema.type);
    if (!validate(coerced))
      problems.push(...describeErrors(validate, `${where}: ${location} parameter ${name}`));
  }

  const requestBody = resolveRef(document, operation.spec.requestBody);
  const media = (requestBody?.content as Json | undefined)?.['application/json'] as
    Json | undefined;
  if (media?.schema) {
    if (request.body === undefined) {
      if (requestBody?.required === true) problems.push(`${where}: a JSON body is required`);
    } else {
      const ajv = options.allowUnknownProperties ? lenient : strict;
      const bodyRef =
        typeof operation.spec.requestBody === 'object' && (operation.spec.requestBody as Json).$ref;
      const pointer =
        typeof bodyRef === 'string'
          ? `${bodyRef.slice(1)}/content/application~1json/schema`
          : `${operation.pointer}/requestBody/content/application~1json/schema`;
      const validate = compile(
        ajv,
        compiled,
        `${operation.document}#${pointer}`,
        options.allowUnknownProperties ? 'lenient' : 'strict',
      );
      if (!validate(request.body)) problems.push(...describeErrors(validate, `${where} body`));
    }
  } else if (request.body !== undefined) {
    problems.push(`${where}: the document defines no request body`);
  }
  return problems;
}

function coerce(value: string, type: unknown): unknown {
  if (type === 'number' || type === 'integer') return value.trim() === '' ? value : Number(value);
  if (type === 'boolean') return value === 'true' ? true : value === 'false' ? false : value;
  return value;
}

/**
 * A fetch that checks every call to a SendGrid path (`/v3/…`) against the documents: the request
 * (unless `checkRequests` is false: tests that send forbidden requests on purpose) before sending
 * it and the response after, reporting problems to `onProblems` (throwing an Error listing them
 * by default). The response is returned unread, so callers use it as usual.
 */
export function contractCheckedFetch(
  options: {
    fetch?: typeof fetch;
    onProblems?: (problems: string[]) => void;
    checkRequests?: boolean;
    request?: RequestValidationOptions;
    response?: ResponseValidationOptions;
  } = {},
): typeof fetch {
  const base = options.fetch ?? fetch;
  const report =
    options.onProblems ??
    ((problems: string[]) => {
      throw new Error(`SendGrid contract violated:\n${problems.join('\n')}`);
    });
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
    if (!url.pathname.startsWith('/v3/')) return base(input, init);
    if (options.checkRequests !== false) {
      let requestBody: unknown;
      const sent = init?.body;
      const text =
        typeof sent === 'string'
          ? sent
          : sent instanceof Uint8Array
            ? Buffer.from(sent.buffer, sent.byteOffset, sent.byteLength).toString('utf8')
            : undefined;
      if (text !== undefined) {
        try {
          requestBody = JSON.parse(text);
        } catch {
          requestBody = text;
        }
      }
      const problems = validateSendGridRequest(
        method,
        url.pathname,
        { query: url.searchParams, body: requestBody },
        options.request,
      );
      if (problems.length > 0) report(problems);
    }
    const response = await base(input, init);
    const text = await response.clone().text();
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = text;
    }
    const problems = validateSendGridResponse(
      method,
      url.pathname,
      response.status,
      body,
      options.response,
    );
    if (problems.length > 0) report(problems);
    return response;
  };
}
