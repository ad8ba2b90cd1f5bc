import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadDemoBook } from '../../src/ingest/demo-book.js';
import type { TestGateway } from './gateway.js';
import { keysOf } from './redis.js';

/** Uploads a file to the `books` bucket through supabase-js and makes its `books` row. */
export async function uploadBook(
  gw: TestGateway,
  o: { bytes: Uint8Array; fileName: string; contentType: string; owner: string; title?: string },
): Promise<{ bookId: string; path: string }> {
  const path = `${o.owner}/${randomUUID()}/${o.fileName}`;
  const up = await gw.deps.supabase.storage
    .from('books')
    .upload(path, o.bytes, { contentType: o.contentType, upsert: false });
  if (up.error) throw new Error(`upload failed: ${up.error.message}`);
  const [row] = await gw.db.sql<{ id: string }[]>`
    insert into books (title, author, user_id, storage_path, processing_status)
    values (${o.title ?? o.fileName}, ${'Test Author'}, ${o.owner}, ${path}, 'pending')
    returning id`;
  return { bookId: row!.id, path };
}

export async function waitForStatus(
  gw: TestGateway,
  bookId: string,
  statuses: string[],
  timeoutMs = 30_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let status = '';
  while (Date.now() < deadline) {
    const [row] = await gw.db.sql<{ processing_status: string }[]>`
      select processing_status from books where id = ${bookId}`;
    status = row?.processing_status ?? 'missing';
    if (statuses.includes(status)) return status;
    await sleep(50);
  }
  throw new Error(`book ${bookId} still ${status} after ${timeoutMs} ms`);
}

export async function waitUntil(
  check: () => Promise<boolean>,
  timeoutMs = 20_000,
  what = 'condition',
) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Waits until no job is queued or in flight on any worker. */
export async function waitForIdleQueue(gw: TestGateway, timeoutMs = 30_000) {
  await waitUntil(
    async () => {
      if ((await gw.redis.llen('processing_queue')) > 0) return false;
      const inflight = await keysOf(gw.redis, '{processing_queue}:inflight:*');
      for (const key of inflight) if ((await gw.redis.llen(key)) > 0) return false;
      return true;
    },
    timeoutMs,
    'an idle queue',
  );
}

/**
 * Uploads the demo book for `owner`, processes it through GraphQL (the gateway's worker must run)
 * and waits until it is completed and the queue idle; the book id.
 */
export async function ingestDemoBook(gw: TestGateway, owner: string): Promise<string> {
  const { bookId } = await uploadBook(gw, {
    bytes: await loadDemoBook(),
    fileName: 'lamp.md',
    contentType: 'text/markdown',
    owner,
    title: 'The Lamp at Salt Hollow',
  });
  const res = await gw.gql(
    'mutation ($id: ID!) { processBook(bookId: $id) { id } }',
    { id: bookId },
    { token: await gw.token(owner) },
  );
  if (res.body.errors) throw new Error(`processBook failed: ${JSON.stringify(res.body.errors)}`);
  const status = await waitForStatus(gw, bookId, ['completed', 'failed']);
  if (status !== 'completed') throw new Error(`the demo book ended ${status}`);
  await waitForIdleQueue(gw);
  return bookId;
}

export interface ProgressStream {
  /** The next `bookProcessing` event, or null once the stream ended. */
  next(): Promise<{ stage: string; progress: number; status: string } | null>;
  close(): Promise<void>;
}

/** Opens a `bookProcessing` subscription over SSE, as a browser's EventSource would. */
export async function openProgress(
  gw: TestGateway,
  bookId: string,
  token: string,
): Promise<ProgressStream> {
  const query = `subscription { bookProcessing(bookId: "${bookId}") { stage progress status } }`;
  const res = await gw.app.fetch(`http://gateway.test/graphql?query=${encodeURIComponent(query)}`, {
    headers: { accept: 'text/event-stream', authorization: `Bearer ${token}` },
  });
  if (!/text\/event-stream/.test(res.headers.get('content-type') ?? '')) {
    throw new Error(`not an event stream: ${res.status} ${await res.text()}`);
  }
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  return {
    async next() {
      while (true) {
        for (let i = buffer.indexOf('\n\n'); i >= 0; i = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, i);
          buffer = buffer.slice(i + 2);
          const data = block.split('\n').find((l) => l.startsWith('data:'));
          if (!data?.slice(5).trim()) continue;
          const payload = JSON.parse(data.slice(5));
          if (payload.data?.bookProcessing) return payload.data.bookProcessing;
        }
        const { value, done } = await reader.read();
        if (done) return null;
        buffer += decoder.decode(value, { stream: true });
      }
    },
    close: () => reader.cancel(),
  };
}
