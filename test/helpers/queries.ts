import type { CompiledQuery, Kysely, KyselyPlugin, RootOperationNode } from 'kysely';

/**
 * The statements `work` runs on `recorded` (`db` with a recorder), compiled as `db` runs them:
 * for tests that ask the database how it plans them (`explain`).
 */
export async function recordQueries<DB>(
  db: Kysely<DB>,
  work: (recorded: Kysely<DB>) => Promise<void>,
): Promise<CompiledQuery[]> {
  const seen: RootOperationNode[] = [];
  const recorder: KyselyPlugin = {
    transformQuery: ({ node }) => {
      seen.push(node);
      return node;
    },
    transformResult: ({ result }) => Promise.resolve(result),
  };
  await work(db.withPlugin(recorder));
  return seen.map((node) => db.getExecutor().compileQuery(node, { queryId: 'plan' }));
}
