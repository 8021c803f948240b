import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from './embedded-postgres.js';

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
  const server = await startEmbeddedPostgres();
  project.provide('postgresAdminUrl', server.adminUrl);
  return () => server.stop();
}
