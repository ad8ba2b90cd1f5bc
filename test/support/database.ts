import { createTestDatabase as create, type TestDatabase } from '@falsafa/standins';
import { MIGRATIONS_DIR } from '../../src/migrations.js';

export type { TestDatabase };

/** A database for one test file, shaped by the gateway's migrations (TEST_DATABASE_URL or PGlite). */
export const createTestDatabase = (): Promise<TestDatabase> => create(MIGRATIONS_DIR);
