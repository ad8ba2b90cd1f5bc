import type { Viewer } from '../auth.js';
import type { SessionContextCache } from '../chat/session-context.js';
import type { SessionLocks } from '../chat/session-lock.js';
import type { Config } from '../config.js';
import { badInput, notFound, parseId } from '../errors.js';
import type { Loaders } from '../loaders.js';
import type { ChatSessionRow, MessageRow } from '../models.js';
import type { ChatStore } from '../stores/chat-store.js';
import { isBlank } from '../util/text.js';
import { requireCompletedBook, requireOwnSession } from './chat-access.js';
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

/** A new session's character and title, checked; BAD_USER_INPUT otherwise. */
export function parseNewSession(input: {
  characterId: string;
  title?: string | null | undefined;
}): {
  characterId: string;
  title: string | null;
} {
  return {
    characterId: parseId(input.characterId, 'characterId'),
    title: checkSessionTitle(input.title),
  };
}

/** A rename's session id and new title, checked; BAD_USER_INPUT otherwise. */
export function parseRename(input: { sessionId: string; title: string }): {
  sessionId: string;
  title: string;
} {
  return { sessionId: parseId(input.sessionId, 'sessionId'), title: checkNewTitle(input.title) };
}

/**
 * A reader's chat sessions and their messages. The gateway reads with the service role, so it
 * enforces ownership here: another reader's session behaves exactly like one that does not exist.
 */
export class ChatSessionService {
  constructor(
    private readonly deps: {
      pageSize: Config['pageSize'];
      chatStore: ChatStore;
      locks: SessionLocks;
      context: SessionContextCache;
    },
    private readonly loaders: Pick<Loaders, 'session' | 'character' | 'book'>,
  ) {}

  /** The viewer's session, or NOT_FOUND (also for someone else's). */
  session(viewer: Viewer, id: string): Promise<ChatSessionRow> {
    return requireOwnSession(this.loaders.session, viewer, parseId(id));
  }

  /** The viewer's sessions; `totalCount` (all of them) only when `count` asks for it. */
  async sessions(
    viewer: Viewer,
    args: PageArgs,
    options: { count?: boolean } = {},
  ): Promise<Connection<ChatSessionRow>> {
    const { size, after: page } = forwardPage(args, this.deps.pageSize, 'timestamp');
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
    const { sessionId, title } = parseRename(input);
    const row = await this.deps.chatStore.renameSession(sessionId, viewer.id, title);
    if (!row) throw notFound('Chat session', sessionId);
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
  async delete(viewer: Viewer, rawSessionId: string): Promise<{ deletedSessionId: string }> {
    const sessionId = parseId(rawSessionId, 'sessionId');
    const session = await requireOwnSession(this.loaders.session, viewer, sessionId);
    const { chatStore, context, locks } = this.deps;
    await locks.withLock(session.id, async () => {
      const row = await chatStore.deleteSession(session.id, viewer.id);
      if (!row) throw notFound('Chat session', sessionId);
      await context.drop(session.id);
    });
    this.loaders.session.clear(session.id);
    return { deletedSessionId: session.id };
  }

  async create(
    viewer: Viewer,
    input: { characterId: string; title?: string | null | undefined },
  ): Promise<ChatSessionRow> {
    const { characterId, title } = parseNewSession(input);
    const character = await this.loaders.character.load(characterId);
    if (!character) throw notFound('Character', characterId);
    const book = await this.loaders.book.load(character.book_id);
    if (!book) throw notFound('Book', character.book_id);
    requireCompletedBook(book, 'chat');
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
    const { size, backward, cursor } = twoWayPage(args, this.deps.pageSize);
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
