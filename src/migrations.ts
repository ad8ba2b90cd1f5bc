import { fileURLToPath } from 'node:url';

/** The gateway's `supabase/migrations`, found from this module so any working directory works. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../supabase/migrations/', import.meta.url));
