import postgres from 'postgres';
import { createScratchDatabase } from './database.js';
import { EMBEDDED_PG_POOL_SIZE, startEmbeddedPostgres } from './postgres.js';

export interface TestDatabase {
  url: string;
  sql: postgres.Sql;
  maxConnections: number;
  close(): Promise<void>;
}

const SERVER_POOL_SIZE = 5;

function connect(url: string, max: number): postgres.Sql {
  return postgres(url, { max, onnotice: () => {} });
}

async function createServerDatabase(
  serverUrl: string,
  migrationsDir: string,
): Promise<TestDatabase> {
  const scratch = await createScratchDatabase(serverUrl, 'falsafa_test', migrationsDir);
  const sql = connect(scratch.url, SERVER_POOL_SIZE);
  return {
    url: scratch.url,
    sql,
    maxConnections: SERVER_POOL_SIZE,
    close: async () => {
      await sql.end({ timeout: 5 });
      await scratch.drop();
    },
  };
}

async function createEmbeddedDatabase(migrationsDir: string): Promise<TestDatabase> {
  const embedded = await startEmbeddedPostgres({ migrationsDir });
  const sql = connect(embedded.url, EMBEDDED_PG_POOL_SIZE);
  return {
    url: embedded.url,
    sql,
    maxConnections: EMBEDDED_PG_POOL_SIZE,
    close: async () => {
      await sql.end({ timeout: 5 });
      await embedded.close();
    },
  };
}

/**
 * A database for one test file, bootstrapped with `migrationsDir`: a fresh one with a random name
 * on the PostgreSQL server at TEST_DATABASE_URL when it is set (dropped on close), else PGlite in
 * memory. `sql` is a client on it; `maxConnections` the pool size that suits it.
 */
export function createTestDatabase(migrationsDir: string): Promise<TestDatabase> {
  const serverUrl = process.env.TEST_DATABASE_URL;
  return serverUrl
    ? createServerDatabase(serverUrl, migrationsDir)
    : createEmbeddedDatabase(migrationsDir);
}
