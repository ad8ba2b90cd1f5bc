/**
 * A private, bootstrapped database for one test file. With TEST_DATABASE_URL set (a PostgreSQL
 * server with trust auth), a fresh `falsafa_test_<hex>` database is created there and dropped on
 * close; otherwise an in-memory PGlite is started (takes seconds: share one per file).
 * `maxConnections` is the pool size clients of this database should use.
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { bootstrapDatabase } from '../../src/embedded/database.js';
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
  const name = `falsafa_test_${randomBytes(6).toString('hex')}`;
  const admin = connect(serverUrl, 1);
  try {
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const target = new URL(serverUrl);
  target.pathname = `/${name}`;
  const url = target.toString();
  const sql = connect(url, SERVER_POOL_SIZE);
  const drop = async () => {
    await sql.end({ timeout: 5 });
    const cleanup = connect(serverUrl, 1);
    try {
      await cleanup.unsafe(`drop database if exists ${name} with (force)`);
    } finally {
      await cleanup.end();
    }
  };
  try {
    await bootstrapDatabase(sql);
  } catch (error) {
    await drop();
    throw error;
  }
  return { url, sql, maxConnections: SERVER_POOL_SIZE, close: drop };
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
