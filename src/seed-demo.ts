import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { Deps } from './deps.js';
import { DEMO_BOOK, loadDemoBook } from './ingest/demo-book.js';
import { BOOKS_BUCKET } from './stores/book-files.js';
import { unwrap } from './stores/postgrest.js';

const DEMO_BOOK_ID = 'd0000000-0000-4000-8000-00000000b001';
export const DEMO_SESSION_ID = 'd0000000-0000-4000-8000-00000000c001';

/**
 * Embedded mode's demo: on first start, one original book ("The Lamp at Salt Hollow") is uploaded
 * to the storage stand-in, its row made for the development reader and its job queued; once the
 * worker has ingested it, a chat session with its first character is opened for that reader.
 * Fixed ids, so GraphiQL's examples work and a restart finds them again.
 */
export async function seedDemo(
  deps: Deps,
  devUserId: string,
): Promise<{ bookId: string; sessionId: string }> {
  const db = deps.supabase;
  const demoPath = `${devUserId}/${DEMO_BOOK.fileName}`;
  const existing = await db.from('books').select('id').eq('id', DEMO_BOOK_ID);
  if (unwrap(existing, z.array(z.object({ id: z.string() })), 'books').length === 0) {
    const category = await db
      .from('categories')
      .upsert({ name: 'Fiction', slug: 'fiction' }, { onConflict: 'slug' })
      .select('id')
      .single();
    const categoryId = unwrap(category, z.object({ id: z.string() }), 'categories').id;
    const upload = await db.storage.from(BOOKS_BUCKET).upload(demoPath, await loadDemoBook(), {
      contentType: DEMO_BOOK.contentType,
      upsert: true,
    });
    if (upload.error) throw new Error(`demo upload failed: ${upload.error.message}`);
    const inserted = await db.from('books').insert({
      id: DEMO_BOOK_ID,
      user_id: devUserId,
      title: DEMO_BOOK.title,
      author: DEMO_BOOK.author,
      description:
        'An original story written for Falsafa: a lighthouse keeper, his apprentice and a storm.',
      category_id: categoryId,
      storage_path: demoPath,
      processing_status: 'pending',
    });
    if (inserted.error) throw new Error(`demo book insert failed: ${inserted.error.message}`);
    const job = await deps.bookJobs.request(DEMO_BOOK_ID);
    deps.logger.info({ bookId: DEMO_BOOK_ID, jobId: job.job_id }, 'demo book queued');
  }
  void openDemoSession(deps, devUserId).catch((err) =>
    deps.logger.warn({ err: String(err) }, 'could not open the demo chat session'),
  );
  return { bookId: DEMO_BOOK_ID, sessionId: DEMO_SESSION_ID };
}

async function openDemoSession(deps: Deps, devUserId: string): Promise<void> {
  const db = deps.supabase;
  const have = await db.from('chat_sessions').select('id').eq('id', DEMO_SESSION_ID);
  if (unwrap(have, z.array(z.object({ id: z.string() })), 'chat_sessions').length > 0) return;
  // Wait for the worker to finish the demo book (seconds with the local embedder).
  for (let i = 0; i < 600; i++) {
    const [book] = await deps.catalogStore.booksByIds([DEMO_BOOK_ID]);
    if (book?.processing_status === 'failed') throw new Error('the demo book failed to process');
    if (book?.processing_status === 'completed') break;
    await sleep(200);
  }
  const [first] = await deps.catalogStore.charactersOfBooks([DEMO_BOOK_ID]);
  if (!first) throw new Error('the demo book has no characters');
  const res = await db.from('chat_sessions').insert({
    id: DEMO_SESSION_ID,
    user_id: devUserId,
    character_id: first.id,
    book_id: DEMO_BOOK_ID,
    title: `Talking with ${first.name}`,
  });
  if (res.error && res.error.code !== '23505') throw new Error(res.error.message);
  deps.logger.info(
    { sessionId: DEMO_SESSION_ID, character: first.name },
    'demo chat session ready',
  );
}
