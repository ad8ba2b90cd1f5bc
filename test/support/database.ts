import postgres from 'postgres';
import { createScratchDatabase } from '../../src/embedded/database.js';
import { EMBEDDED_PG_POOL_SIZE, startEmbeddedPostgres } from '../../src/embedded/postgres.js';

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

async function createServerDatabase(serverUrl: string): Promise<TestDatabase> {
  const scratch = await createScratchDatabase(serverUrl, 'falsafa_test');
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

async function createEmbeddedDatabase(): Promise<TestDatabase> {
  const embedded = await startEmbeddedPostgres();
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

export function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = process.env.TEST_DATABASE_URL;
  return serverUrl ? createServerDatabase(serverUrl) : createEmbeddedDatabase();
}
