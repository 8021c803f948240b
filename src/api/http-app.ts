import { Hono } from 'hono';
import type { App } from '../app.js';
import { toSegsyncError } from '../shared/errors.js';
import { redactSecretsInText } from '../shared/secrets.js';
import { version } from '../shared/version.js';
import { statusForError } from './errors.js';

/** The REST API as a Hono app; `app.request()` exercises it without a socket. */
export function createHttpApp(app: App): Hono {
  const http = new Hono();

  http.onError((thrown, c) => {
    const error = toSegsyncError(thrown);
    const status = statusForError(error);
    if (status >= 500) app.logger.error({ err: thrown, path: c.req.path }, 'request failed');
    // Internal details stay in the log; the client gets a stable code and a safe message.
    const body =
      error.kind === 'internal'
        ? { kind: error.kind, code: error.code, message: 'internal error' }
        : error.toJSON();
    return c.json({ error: { ...body, message: redactSecretsInText(body.message) } }, status);
  });

  http.notFound((c) =>
    c.json(
      {
        error: {
          kind: 'not_found',
          code: 'route_not_found',
          message: `no route ${c.req.method} ${c.req.path}`,
        },
      },
      404,
    ),
  );

  http.get('/api/health', (c) => c.json({ status: 'ok', version, database: app.database.dialect }));

  return http;
}
