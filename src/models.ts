/**
 * The Supabase rows as PostgREST returns them (snake_case, timestamps as ISO strings). These exact
 * shapes are what the Redis caches hold, so every instance reads the same values.
 */
import { z } from 'zod';

const ts = z.string();
const id = z.string();

export const categoryRow = z.object({
  id,
  name: z.string(),
  slug: z.string().nullable(),
  description: z.string().nullable().optional(),
  created_at: ts,
});
export type CategoryRow = z.infer<typeof categoryRow>;

export const processingStatus = z.enum(['pending', 'processing', 'completed', 'failed']);
export type ProcessingStatusValue = z.infer<typeof processingStatus>;

const bookRow = z.object({
  id,
  user_id: z.string().nullable(),
  title: z.string(),
  author: z.string().nullable(),
  description: z.string().nullable(),
  category_id: z.string().nullable(),
  cover_url: z.string().nullable(),
  storage_path: z.string().nullable(),
  processing_status: processingStatus,
  created_at: ts,
  updated_at: ts,
});
/** `chat:book:{book_id}` holds this: the book row with its category embedded. */
export const bookWithCategoryRow = bookRow.extend({ category: categoryRow.nullable() });
export type BookRow = z.infer<typeof bookWithCategoryRow>;

export const characterRow = z.object({
  id,
  book_id: z.string(),
  name: z.string(),
  safe_name: z.string(),
  description: z.string().nullable(),
  personality: z.string().nullable().optional(),
  system_prompt: z.string(),
  avatar_url: z.string().nullable(),
  created_at: ts,
});
export type CharacterRow = z.infer<typeof characterRow>;

export const chatSessionRow = z.object({
  id,
  user_id: z.string(),
  character_id: z.string(),
  book_id: z.string(),
  title: z.string().nullable(),
  message_count: z.number().int(),
  preview: z.string().nullable(),
  /** Reading position (null: none set, the whole book): a chapter, or a share of the text. */
  reading_chapter: z
    .number()
    .int()
    .nullish()
    .transform((v) => v ?? null),
  reading_percent: z
    .number()
    .nullish()
    .transform((v) => v ?? null),
  /** The last chunk the reader has read in full (-1: none), resolved from the position. */
  reading_max_chunk_index: z
    .number()
    .int()
    .nullish()
    .transform((v) => v ?? null),
  /** The branch the session shows (null: its original one). */
  current_branch_id: z
    .string()
    .nullish()
    .transform((v) => v ?? null),
  created_at: ts,
  updated_at: ts,
});
export type ChatSessionRow = z.infer<typeof chatSessionRow>;

export const citation = z.object({
  chunk_index: z.number().int(),
  text: z.string(),
  score: z.number(),
  chapter: z.string().nullable().optional(),
  /** How the reply citing this passage was written; absent in citations saved before it was kept. */
  generated_by: z.enum(['extractive', 'language_model']).optional().catch(undefined),
});
export type GeneratedBy = 'extractive' | 'language_model';
export type CitationValue = z.infer<typeof citation>;

export const messageRow = z.object({
  id,
  session_id: z.string(),
  role: z.enum(['user', 'assistant', 'system']),
  content: z.string(),
  citations: z.array(citation).nullable(),
  client_message_id: z.string().nullable(),
  /** The branch this message was written on (null: the session's original one). */
  branch_id: z
    .string()
    .nullish()
    .transform((v) => v ?? null),
  /** The first version of this message, when this one is a regenerated reply or an edit. */
  alternative_of: z
    .string()
    .nullish()
    .transform((v) => v ?? null),
  created_at: ts,
});
export type MessageRow = z.infer<typeof messageRow>;
