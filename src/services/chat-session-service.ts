import type { Viewer } from '../auth.js';
import type { Deps } from '../deps.js';
import { AppError, badInput, notFound } from '../errors.js';
import type { Loaders } from '../loaders.js';
import { encodeCursor } from '../stores/postgrest.js';
import type { ChatSessionRow, MessageRow } from '../stores/rows.js';
import {
  type Connection,
  forwardPage,
  type PageArgs,
  toConnection,
  twoWayPage,
} from './pagination.js';

export const SESSION_TITLE_MAX = 200;

/** The title a new session is saved with (trimmed; null when blank); BAD_USER_INPUT if too long. */
export function checkSessionTitle(raw: string | null | undefined): string | null {
  const title = raw?.trim() || null;
  if (title && title.length > SESSION_TITLE_MAX) {
    throw badInput(`title must be at most ${SESSION_TITLE_MAX} characters`, 'title');
  }
  return title;
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

  async sessions(viewer: Viewer, args: PageArgs): Promise<Connection<ChatSessionRow>> {
    const { size, after: page } = forwardPage(args, this.deps.config.pageSize, 'timestamp');
    const after = page && { updatedAt: page.key, id: page.id };
    const rows = await this.deps.chatStore.sessionsPage({
      userId: viewer.id,
      limit: size + 1,
      after,
    });
    for (const row of rows) this.loaders.session.prime(row.id, row);
    return toConnection(rows, size, (s) => encodeCursor([s.updated_at, s.id]), 'forward', !!after);
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
  async messages(session: ChatSessionRow, args: PageArgs): Promise<Connection<MessageRow>> {
    const { size, backward, cursor } = twoWayPage(args, this.deps.config.pageSize);
    const rows = await this.deps.chatStore.messagesPage({
      sessionId: session.id,
      limit: size + 1,
      direction: backward ? 'backward' : 'forward',
      cursor,
    });
    return toConnection(
      rows,
      size,
      (m) => encodeCursor([m.created_at]),
      backward ? 'backward' : 'forward',
      !!cursor,
    );
  }
}
