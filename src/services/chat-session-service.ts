import type { Viewer } from '../auth.js';
import { sessionKey } from '../chat/session-context.js';
import { withSessionLock } from '../chat/session-lock.js';
import type { Deps } from '../deps.js';
import { AppError, badInput, notFound } from '../errors.js';
import type { Loaders } from '../loaders.js';
import type { ChatSessionRow, MessageRow } from '../models.js';
import { isBlank } from '../util/text.js';
import {
  type Connection,
  encodeCursor,
  forwardPage,
  type PageArgs,
  toConnection,
  twoWayPage,
} from './pagination.js';

const SESSION_TITLE_MAX = 200;

/** A message's cursor in its session's messages connection. */
export const messageCursor = (m: MessageRow): string => encodeCursor([m.created_at]);

/**
 * A title a reader gives a session, trimmed: something visible in it, and at most
 * SESSION_TITLE_MAX characters (code points); BAD_USER_INPUT otherwise.
 */
export function checkNewTitle(raw: string): string {
  const title = raw.trim();
  if (isBlank(title)) throw badInput('title must have a visible character', 'title');
  if ([...title].length > SESSION_TITLE_MAX) {
    throw badInput(`title must be at most ${SESSION_TITLE_MAX} characters`, 'title');
  }
  return title;
}

/** The title a new session is saved with: null (the default one) when blank, else checkNewTitle's. */
export function checkSessionTitle(raw: string | null | undefined): string | null {
  return raw?.trim() ? checkNewTitle(raw) : null;
}

/**
 * A reader's chat sessions and their messages. The gateway reads with the service role, so it
 * enforces ownership here: another reader's session behaves exactly like one that does not exist.
 */
export class ChatSessionService {
  constructor(
    private readonly deps: Deps,
    private readonly loaders: Loaders,
  ) {}

  /** The viewer's session, or NOT_FOUND (also for someone else's). */
  async session(viewer: Viewer, id: string): Promise<ChatSessionRow> {
    const row = await this.loaders.session.load(id);
    if (!row || row.user_id !== viewer.id) throw notFound('Chat session', id);
    return row;
  }

  /** The viewer's sessions; `totalCount` (all of them) only when `count` asks for it. */
  async sessions(
    viewer: Viewer,
    args: PageArgs,
    options: { count?: boolean } = {},
  ): Promise<Connection<ChatSessionRow>> {
    const { size, after: page } = forwardPage(args, this.deps.config.pageSize, 'timestamp');
    const after = page && { updatedAt: page.key, id: page.id };
    const { rows, total } = await this.deps.chatStore.sessionsPage({
      userId: viewer.id,
      limit: size + 1,
      after,
      count: options.count,
    });
    for (const row of rows) this.loaders.session.prime(row.id, row);
    return {
      ...toConnection(rows, size, (s) => encodeCursor([s.updated_at, s.id]), 'forward', !!after),
      totalCount: total,
    };
  }

  /**
   * Renames the viewer's session (the one column the frontend may update itself). Another
   * reader's session is NOT_FOUND, and is not touched: the owner is part of the update's filter.
   */
  async rename(
    viewer: Viewer,
    input: { sessionId: string; title: string },
  ): Promise<ChatSessionRow> {
    const title = checkNewTitle(input.title);
    const row = await this.deps.chatStore.renameSession(input.sessionId, viewer.id, title);
    if (!row) throw notFound('Chat session', input.sessionId);
    this.loaders.session.clear(row.id).prime(row.id, row);
    return row;
  }

  /**
   * Deletes the viewer's session with its messages and the gateway's fencing row of it (one
   * cascading delete), then drops its cached context `chat:sess:{id}`. It takes the session lock
   * first, as a turn does: a turn under way is waited for up to SESSION_LOCK_WAIT_MS (then
   * SESSION_BUSY, retryable, and nothing is deleted), and a turn that was waiting for the lock
   * finds the session gone (NOT_FOUND) and saves nothing. Another reader's session, a missing
   * one and one already deleted are all NOT_FOUND: a repeated delete changes nothing more.
   */
  async delete(viewer: Viewer, sessionId: string): Promise<{ deletedSessionId: string }> {
    const session = await this.loaders.session.load(sessionId);
    if (!session || session.user_id !== viewer.id) throw notFound('Chat session', sessionId);
    const { redis, counter, config, chatStore, logger } = this.deps;
    await withSessionLock(
      redis,
      counter,
      session.id,
      { ttlMs: config.chat.lockTtlMs, waitMs: config.chat.lockWaitMs, registry: this.deps.locks },
      async () => {
        const row = await chatStore.deleteSession(session.id, viewer.id);
        if (!row) throw notFound('Chat session', sessionId);
        try {
          await counter.time('redis', 'del', () => redis.del(sessionKey(session.id)));
        } catch (err) {
          // The context of a deleted session is never read again (every read checks the session
          // row first); its TTL removes it.
          logger.warn({ err: String(err) }, 'session context drop failed');
        }
      },
    );
    this.loaders.session.clear(session.id);
    return { deletedSessionId: session.id };
  }

  async create(
    viewer: Viewer,
    input: { characterId: string; title?: string | null | undefined },
  ): Promise<ChatSessionRow> {
    const title = checkSessionTitle(input.title);
    const character = await this.loaders.character.load(input.characterId);
    if (!character) throw notFound('Character', input.characterId);
    const book = await this.loaders.book.load(character.book_id);
    if (!book) throw notFound('Book', character.book_id);
    if (book.processing_status !== 'completed') {
      throw new AppError(
        'FAILED_PRECONDITION',
        `The book "${book.title}" is ${book.processing_status}; chats open once it is completed`,
      );
    }
    const row = await this.deps.chatStore.createSession({
      user_id: viewer.id,
      character_id: character.id,
      book_id: character.book_id,
      title: title ?? `Chat with ${character.name}`,
    });
    this.loaders.session.prime(row.id, row);
    return row;
  }

  /**
   * Messages in time order. `first`/`after` pages forward from the oldest; `last`/`before` pages
   * back from the newest (the chat page asks for `last: 50`).
   */
  async messages(
    session: ChatSessionRow,
    args: PageArgs,
    options: { count?: boolean } = {},
  ): Promise<Connection<MessageRow>> {
    const { size, backward, cursor } = twoWayPage(args, this.deps.config.pageSize);
    const { rows, total } = await this.deps.chatStore.messagesPage({
      sessionId: session.id,
      limit: size + 1,
      direction: backward ? 'backward' : 'forward',
      cursor,
      count: options.count,
    });
    return {
      ...toConnection(rows, size, messageCursor, backward ? 'backward' : 'forward', !!cursor),
      totalCount: total,
    };
  }
}
