import type { SupabaseClient } from '@supabase/supabase-js';

/** The private Storage bucket of uploaded books (`{user_id}/{file}`). */
export const BOOKS_BUCKET = 'books';

/** A book file as read from Storage, or why it could not be read. */
export type BookFile = { bytes: Uint8Array; contentType: string } | { error: string };

/** Supabase Storage I/O for the books' files (the service role reads every reader's). */
export class BookFiles {
  constructor(private readonly db: SupabaseClient) {}

  async read(path: string): Promise<BookFile> {
    const { data, error } = await this.db.storage.from(BOOKS_BUCKET).download(path);
    if (error || !data) return { error: error?.message ?? 'no data' };
    return { bytes: new Uint8Array(await data.arrayBuffer()), contentType: data.type };
  }
}
