import type { SupabaseClient } from '@supabase/supabase-js';
import { z } from 'zod';
import {
  type BookRow,
  bookWithCategoryRow,
  type CategoryRow,
  type CharacterRow,
  categoryRow,
  characterRow,
  type ProcessingStatusValue,
} from '../models.js';
import { pgrstQuote, unwrap } from './postgrest.js';

const BOOK_WITH_CATEGORY_SELECT = '*,category:categories(*)';

/** Supabase I/O for the catalog: categories, books, characters. Lists of ids are one `in.(…)` call. */
export class CatalogStore {
  constructor(private readonly db: SupabaseClient) {}

  async categories(): Promise<CategoryRow[]> {
    const res = await this.db.from('categories').select('*').order('name').order('id');
    return unwrap(res, z.array(categoryRow), 'categories');
  }

  async booksByIds(ids: readonly string[]): Promise<BookRow[]> {
    if (ids.length === 0) return [];
    const res = await this.db
      .from('books')
      .select(BOOK_WITH_CATEGORY_SELECT)
      .in('id', [...ids]);
    return unwrap(res, z.array(bookWithCategoryRow), 'books');
  }

  /** Newest first, keyset on (created_at, id); returns up to `limit` rows. */
  async booksPage(args: {
    limit: number;
    after?: { createdAt: string; id: string } | undefined;
    categoryId?: string | undefined;
    status?: ProcessingStatusValue | undefined;
  }): Promise<BookRow[]> {
    let q = this.db.from('books').select(BOOK_WITH_CATEGORY_SELECT);
    if (args.categoryId) q = q.eq('category_id', args.categoryId);
    if (args.status) q = q.eq('processing_status', args.status);
    if (args.after) {
      const t = pgrstQuote(args.after.createdAt);
      q = q.or(`created_at.lt.${t},and(created_at.eq.${t},id.lt.${args.after.id})`);
    }
    const res = await q
      .order('created_at', { ascending: false })
      .order('id', { ascending: false })
      .limit(args.limit);
    return unwrap(res, z.array(bookWithCategoryRow), 'books');
  }

  async charactersByIds(ids: readonly string[]): Promise<CharacterRow[]> {
    if (ids.length === 0) return [];
    const res = await this.db
      .from('characters')
      .select('*')
      .in('id', [...ids]);
    return unwrap(res, z.array(characterRow), 'characters');
  }

  /** All characters of several books in one call, ordered by name then id. */
  async charactersOfBooks(bookIds: readonly string[]): Promise<CharacterRow[]> {
    if (bookIds.length === 0) return [];
    const res = await this.db
      .from('characters')
      .select('*')
      .in('book_id', [...bookIds])
      .order('name')
      .order('id');
    return unwrap(res, z.array(characterRow), 'characters');
  }

  /** One page of a book's characters by (name, id). */
  /** Writes characters found by ingestion: one upsert on `(book_id, safe_name)`; the saved rows. */
  async upsertCharacters(
    rows: readonly {
      book_id: string;
      name: string;
      safe_name: string;
      description: string | null;
      personality: string | null;
      system_prompt: string;
    }[],
  ): Promise<CharacterRow[]> {
    const res = await this.db
      .from('characters')
      .upsert([...rows], { onConflict: 'book_id,safe_name' })
      .select('*');
    return unwrap(res, z.array(characterRow), 'characters');
  }

  async charactersPage(args: {
    bookId: string;
    limit: number;
    after?: { name: string; id: string } | undefined;
  }): Promise<CharacterRow[]> {
    let q = this.db.from('characters').select('*').eq('book_id', args.bookId);
    if (args.after) {
      const n = pgrstQuote(args.after.name);
      q = q.or(`name.gt.${n},and(name.eq.${n},id.gt.${args.after.id})`);
    }
    const res = await q.order('name').order('id').limit(args.limit);
    return unwrap(res, z.array(characterRow), 'characters');
  }

  /** The backend updates `processing_status` and no other book field. */
}
