import { fileURLToPath } from 'node:url';

/**
 * The schema the stand-ins are tested against: the migrations of the repository this package
 * lives in (books, categories, chat sessions, the `books` bucket's policies), a real application's
 * schema with row-level security.
 */
export const MIGRATIONS_DIR = fileURLToPath(
  new URL('../../../../supabase/migrations/', import.meta.url),
);
