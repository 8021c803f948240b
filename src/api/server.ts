import { serve } from '@hono/node-server';
import type { App } from '../app.js';
import { createHttpApp } from './http-app.js';

/** A running HTTP server. */
export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

/** Serves the REST API on host:port (port 0 picks a free one) and resolves once listening. */
export function startServer(
  app: App,
  options: { host: string; port: number },
): Promise<RunningServer> {
  const http = createHttpApp(app);
  return new Promise((resolve, reject) => {
    const server = serve(
      { fetch: http.fetch, hostname: options.host, port: options.port },
      (info) => {
        const host = info.address.includes(':') ? `[${info.address}]` : info.address;
        resolve({
          url: `http://${host}:${info.port}`,
          close: () =>
            new Promise<void>((done, fail) =>
              server.close((error) => (error ? fail(error) : done())),
            ),
        });
      },
    );
    server.once('error', reject);
  });
}
