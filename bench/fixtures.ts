import { randomUUID } from 'node:crypto';
import type { SupabaseClient } from '@supabase/supabase-js';
import { loadDemoBook } from '../src/ingest/demo-book.js';

/**
 * The benchmark's rows, written through supabase-js with the service role (as the frontend and
 * ingestion would have made them), so that the same code seeds the embedded stand-in, a fresh
 * PostgreSQL database or a real Supabase project. Every book made here is listed in `bookIds`
 * (deleting them cascades to characters, sessions and messages).
 */
export const BUCKET = 'books';

export class Fixtures {
  readonly bookIds: string[] = [];
  readonly categoryIds: string[] = [];
  readonly uploads: string[] = [];
  private readonly tag = randomUUID().slice(0, 8);

  constructor(private readonly db: SupabaseClient) {}

  private async must<T>(what: string, p: PromiseLike<{ data: T | null; error: unknown }>) {
    const { data, error } = await p;
    if (error) throw new Error(`${what}: ${JSON.stringify(error)}`);
    return data as T;
  }

  async category(name: string): Promise<string> {
    const slug = `bench-${this.tag}-${name.toLowerCase().replace(/\W+/g, '-')}`;
    const [row] = await this.must<{ id: string }[]>(
      `category ${name}`,
      this.db.from('categories').insert({ name, slug }).select('id'),
    );
    this.categoryIds.push(row!.id);
    return row!.id;
  }

  /** Books (completed unless given a storage path to ingest), in one insert. */
  async books(
    rows: { title: string; categoryId: string | null; storagePath?: string; userId?: string }[],
  ): Promise<string[]> {
    const inserted = await this.must<{ id: string }[]>(
      'books',
      this.db
        .from('books')
        .insert(
          rows.map((r) => ({
            title: r.title,
            author: 'Bench Author',
            description: `${r.title}: a book seeded by the benchmark.`,
            category_id: r.categoryId,
            user_id: r.userId ?? null,
            storage_path: r.storagePath ?? null,
            processing_status: r.storagePath ? 'pending' : 'completed',
          })),
        )
        .select('id'),
    );
    const ids = inserted.map((r) => r.id);
    this.bookIds.push(...ids);
    return ids;
  }

  /** `count` characters for each book, in one insert; returns each book's ids in name order. */
  async characters(bookIds: readonly string[], count: number): Promise<Map<string, string[]>> {
    const rows = bookIds.flatMap((bookId) =>
      Array.from({ length: count }, (_, i) => {
        const n = String(i).padStart(3, '0');
        return {
          book_id: bookId,
          name: `Character ${n}`,
          safe_name: `character-${n}`,
          description: `Person ${n} of the book, described in a sentence or two for the page.`,
          personality: 'Curious, patient, a little stubborn.',
          system_prompt: `You are character ${n}.`,
        };
      }),
    );
    const out = new Map<string, string[]>(bookIds.map((id) => [id, []]));
    for (let i = 0; i < rows.length; i += 500) {
      const saved = await this.must<{ id: string; book_id: string; name: string }[]>(
        'characters',
        this.db
          .from('characters')
          .insert(rows.slice(i, i + 500))
          .select('id,book_id,name'),
      );
      for (const r of saved.sort((a, b) => a.name.localeCompare(b.name))) {
        out.get(r.book_id)?.push(r.id);
      }
    }
    return out;
  }

  async sessions(
    rows: { userId: string; characterId: string; bookId: string; title: string }[],
  ): Promise<string[]> {
    const saved = await this.must<{ id: string }[]>(
      'chat_sessions',
      this.db
        .from('chat_sessions')
        .insert(
          rows.map((r) => ({
            user_id: r.userId,
            character_id: r.characterId,
            book_id: r.bookId,
            title: r.title,
          })),
        )
        .select('id'),
    );
    return saved.map((r) => r.id);
  }

  async charactersOf(bookId: string): Promise<{ id: string; name: string }[]> {
    return this.must(
      'characters of book',
      this.db.from('characters').select('id,name').eq('book_id', bookId).order('name'),
    );
  }

  async bookStatus(bookId: string): Promise<string> {
    const [row] = await this.must<{ processing_status: string }[]>(
      'book status',
      this.db.from('books').select('processing_status').eq('id', bookId),
    );
    return row?.processing_status ?? 'missing';
  }

  async upload(path: string, bytes: Uint8Array, contentType: string): Promise<void> {
    const { error } = await this.db.storage
      .from(BUCKET)
      .upload(path, bytes, { contentType, upsert: true });
    if (error) throw new Error(`upload ${path}: ${error.message}`);
    this.uploads.push(path);
  }

  /** Removes what was made here (for a real Supabase project; a fresh database is dropped). */
  async cleanup(): Promise<void> {
    for (let i = 0; i < this.bookIds.length; i += 100) {
      await this.db
        .from('books')
        .delete()
        .in('id', this.bookIds.slice(i, i + 100));
    }
    if (this.categoryIds.length > 0) {
      await this.db.from('categories').delete().in('id', this.categoryIds);
    }
    if (this.uploads.length > 0) await this.db.storage.from(BUCKET).remove(this.uploads);
  }
}

/**
 * A text of at least `bytes` bytes for ingestion: the demo book's chapters repeated under
 * numbered part headings (an original text, so the character finder has real dialogue to find).
 */
export async function megabyteBook(bytes = 1_000_000): Promise<Uint8Array> {
  const demo = new TextDecoder().decode(await loadDemoBook());
  const parts: string[] = [];
  let size = 0;
  for (let part = 1; size < bytes; part++) {
    const text = `# Part ${part}\n\n${demo.replace(/^# /gm, '## ')}\n\n`;
    parts.push(text);
    size += Buffer.byteLength(text, 'utf8');
  }
  return new TextEncoder().encode(parts.join(''));
}
