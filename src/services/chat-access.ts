import type { Viewer } from '../auth.js';
import { AppError, notFound } from '../errors.js';
import type { Loaders } from '../loaders.js';
import type { BookRow, ChatSessionRow } from '../models.js';

/**
 * The viewer's session, or NOT_FOUND: another reader's session behaves exactly like one that does
 * not exist (the gateway reads with the service role, so ownership is enforced here).
 */
export async function requireOwnSession(
  sessions: Loaders['session'],
  viewer: Viewer,
  sessionId: string,
): Promise<ChatSessionRow> {
  const row = await sessions.load(sessionId);
  if (!row || row.user_id !== viewer.id) throw notFound('Chat session', sessionId);
  return row;
}

const NOT_YET = {
  chat: 'chats open once it is completed',
  search: 'it is not searchable yet',
} as const;

/** FAILED_PRECONDITION unless the book is processed (chats and search need its indexes). */
export function requireCompletedBook(book: BookRow, use: keyof typeof NOT_YET): void {
  if (book.processing_status !== 'completed') {
    throw new AppError(
      'FAILED_PRECONDITION',
      `The book "${book.title}" is ${book.processing_status}; ${NOT_YET[use]}`,
    );
  }
}
