import type { Viewer } from '../auth.js';
import {
  checkPositionShape,
  type ResolvedPosition,
  resolvePosition,
} from '../chat/reading-position.js';
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

type PositionArg = { chapter?: number | null; percent?: number | null };

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

  /**
   * Sets or clears (null) the reading position of the viewer's session: checked against the book
   * (BAD_USER_INPUT when out of range, nothing saved), saved under the session lock (a turn under
   * way is waited for, then SESSION_BUSY), and the session's cached context is dropped, so the
   * next turn rebuilds it without the replies that cite past the new position.
   */
  async setReadingPosition(
    viewer: Viewer,
    input: { sessionId: string; readingPosition: PositionArg | null | undefined },
  ): Promise<ChatSessionRow> {
    if (input.readingPosition) checkPositionShape(input.readingPosition);
    const session = await this.session(viewer, input.sessionId);
    const position = input.readingPosition
      ? await this.resolvePosition(session.book_id, input.readingPosition)
      : null;
    const { redis, counter, chatStore, logger, config } = this.deps;
    const lockOptions = {
      ttlMs: config.chat.lockTtlMs,
      waitMs: config.chat.lockWaitMs,
      registry: this.deps.locks,
    };
    const row = await withSessionLock(redis, counter, session.id, lockOptions, async () => {
      const updated = await chatStore.setReadingPosition(session.id, viewer.id, {
        reading_chapter: position?.chapter ?? null,
        reading_percent: position?.percent ?? null,
        reading_max_chunk_index: position?.maxChunkIndex ?? null,
      });
      if (!updated) throw notFound('Chat session', input.sessionId);
      try {
        await counter.time('redis', 'del', () => redis.del(sessionKey(session.id)));
      } catch (err) {
        // A context left behind would carry the old position's replies: refuse to go on.
        logger.warn({ err: String(err) }, 'session context drop failed');
        throw err;
      }
      return updated;
    });
    this.loaders.session.clear(row.id).prime(row.id, row);
    return row;
  }

  /** A reading position checked against the book's chapters and length. */
  private async resolvePosition(bookId: string, input: PositionArg): Promise<ResolvedPosition> {
    checkPositionShape(input);
    return resolvePosition(input, await this.deps.vectors.outline(bookId));
  }

  async create(
    viewer: Viewer,
    input: {
      characterId: string;
      title?: string | null | undefined;
      readingPosition?: PositionArg | null | undefined;
    },
  ): Promise<ChatSessionRow> {
    const title = checkSessionTitle(input.title);
    if (input.readingPosition) checkPositionShape(input.readingPosition);
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
    const position = input.readingPosition
      ? await this.resolvePosition(book.id, input.readingPosition)
      : null;
    const row = await this.deps.chatStore.createSession({
      user_id: viewer.id,
      character_id: character.id,
      book_id: character.book_id,
      title: title ?? `Chat with ${character.name}`,
      ...(position && {
        reading_chapter: position.chapter,
        reading_percent: position.percent,
        reading_max_chunk_index: position.maxChunkIndex,
      }),
    });
    this.loaders.session.prime(row.id, row);
    return row;
  }

  /**
   * Messages of the branch the session shows, in time order. `first`/`after` pages forward from the oldest; `last`/`before` pages
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
      branchId: session.current_branch_id,
      limit: size + 1,
      direction: backward ? 'backward' : 'forward',
      cursor,
      count: options.count,
    });
    return {
      ...toConnection(
        rows,
        size,
        (m) => encodeCursor([m.created_at]),
        backward ? 'backward' : 'forward',
        !!cursor,
      ),
      totalCount: total,
    };
  }
}
