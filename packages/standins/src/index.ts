/**
 * Wire-compatible local stand-ins for the services a Supabase + Qdrant + Typesense application
 * talks to: PGlite served over the Postgres protocol, a PostgREST + Storage server, a Qdrant REST
 * server and a Typesense REST server. Each is a function that starts one server and returns its
 * URL and `close`; `startStack` starts all four.
 */

export { type DataDirLock, DataDirLockedError, LOCK_FILE, lockDataDir } from './data-dir-lock.js';
export {
  applyMigrations,
  bootstrapDatabase,
  createScratchDatabase,
  ensureSupabaseShims,
} from './database.js';
export {
  EMBEDDED_PG_MAX_CONNECTIONS,
  EMBEDDED_PG_POOL_SIZE,
  type EmbeddedPostgres,
  startEmbeddedPostgres,
} from './postgres.js';
export {
  type QdrantStandIn,
  type QdrantStandInOptions,
  startQdrantStandIn,
} from './qdrant/server.js';
export { type Stack, type StackOptions, startStack } from './stack.js';
export {
  type StandInRequestEvent,
  type SupabaseJwtOptions,
  type SupabaseRole,
  type SupabaseStandIn,
  type SupabaseStandInOptions,
  signSupabaseJwt,
  startSupabaseStandIn,
} from './supabase/server.js';
export { createTestDatabase, type TestDatabase } from './test-database.js';
export {
  startTypesenseStandIn,
  type TypesenseStandIn,
  type TypesenseStandInOptions,
} from './typesense/server.js';
