import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../app.js';
import { loadConfig } from '../config.js';
import { silentLogger } from '../shared/logger.js';
import { createHttpApp } from './http-app.js';

describe('REST API basics', () => {
  let app: App;
  let dir: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segsync-api-'));
    app = await createApp({
      config: loadConfig({ SEGSYNC_DATA_DIR: dir }, dir),
      logger: silentLogger,
    });
  });
  afterAll(async () => {
    await app.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers the health check', async () => {
    const response = await createHttpApp(app).request('/api/health');
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ok', database: 'sqlite' });
  });

  it('answers unknown routes with a JSON 404', async () => {
    const response = await createHttpApp(app).request('/api/nothing-here');
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: { code: 'route_not_found' } });
  });
});
