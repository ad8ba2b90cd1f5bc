import type { PostgrestError } from '@supabase/supabase-js';
import type { z } from 'zod';
import { InvalidValue, MissingReference, StoreUnavailable } from './errors.js';

/**
 * Turns a supabase-js result into rows or a typed error. postgrest-js reports a failed fetch as an
 * error without a PostgreSQL code, which here means the store is unavailable.
 */
export function unwrap<T>(
  result: { data: unknown; error: PostgrestError | null },
  schema: z.ZodType<T>,
  what: string,
): T {
  if (result.error) throw fromPostgrestError(result.error, what);
  const parsed = schema.safeParse(result.data);
  if (!parsed.success) {
    throw new Error(
      `unexpected ${what} shape from Supabase: ${parsed.error.message.slice(0, 500)}`,
    );
  }
  return parsed.data;
}

export function fromPostgrestError(error: PostgrestError, what: string): Error {
  const code = error.code ?? '';
  if (code === '' || code === '57014' || code.startsWith('08') || code === 'PGRST000') {
    return new StoreUnavailable('supabase', new Error(`${what}: ${error.message}`));
  }
  if (code === '22P02') return new InvalidValue(`malformed value in ${what}`);
  if (code === '23503') return new MissingReference(what);
  if (code === '23514' || code === '23502' || code === '22001') {
    return new InvalidValue(`${what}: ${error.message}`);
  }
  return new Error(`${what} failed: ${code} ${error.message}`);
}

/** PostgREST filter values are quoted so that commas, dots and parentheses stay data. */
export function pgrstQuote(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}
