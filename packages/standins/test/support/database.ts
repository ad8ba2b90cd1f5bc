import { createTestDatabase as create, type TestDatabase } from '../../src/test-database.js';
import { MIGRATIONS_DIR } from './schema.js';

export type { TestDatabase };

/** A database for one test file, shaped by the schema under test (see test-database.ts). */
export const createTestDatabase = (): Promise<TestDatabase> => create(MIGRATIONS_DIR);
