import type { PostgrestError, SupabaseClient } from '@supabase/supabase-js';
import { z } from 'zod';
import { type ChatSessionRow, chatSessionRow, type MessageRow, messageRow } from '../models.js';
import { Conflict, InvalidValue, NotFound } from './errors.js';
import { fromPostgrestError, pgrstQuote, unwrap } from './postgrest.js';

/** Called with a session's id once a write to it (or to its messages) is committed. */
export type SessionWritten = (sessionId: string) => Promise<void>;

const nothing: SessionWritten = async () => {};

/** Session ids per update when bounds are saved again (they go in the URL). */
const REBOUND_BATCH = 100;

const positionRow = z.object({
  id: z.string(),
  reading_chapter: z.number().int().nullable(),
  reading_percent: z.number().nullable(),
  reading_max_chunk_index: z.number().int().nullable(),
});

/** Supabase I/O for chat sessions and messages. */
export class ChatStore {
  constructor(
    private readonly db: SupabaseClient,
    private readonly written: SessionWritten = nothing,
  ) {}

  async sessionsByIds(ids: readonly string[]): Promise<ChatSessionRow[]> {
    if (ids.length === 0) return [];
    const res = await this.db
      .from('chat_sessions')
      .select('*')
      .in('id', [...ids]);
    return unwrap(res, z.array(chatSessionRow), 'chat_sessions');
  }

  async messagesByIds(ids: readonly string[]): Promise<MessageRow[]> {
    if (ids.length === 0) return [];
    const res = await this.db
      .from('messages')
      .select('*')
      .in('id', [...ids]);
    return unwrap(res, z.array(messageRow), 'messages');
  }

  /**
   * A reader's sessions, most recently active first, keyset on (updated_at, id). With `count`,
   * `total` is the number of all their sessions (see `withTotal`).
   */
  async sessionsPage(args: {
    userId: string;
    limit: number;
    after?: { updatedAt: string; id: string } | undefined;
    count?: boolean | undefined;
  }): Promise<Page<ChatSessionRow>> {
    const res = await withTotal(
      args.count === true,
      !!args.after,
      (count) => {
        let q = this.db
          .from('chat_sessions')
          .select('*', count ? { count: 'exact' } : {})
          .eq('user_id', args.userId);
        if (args.after) {
          const t = pgrstQuote(args.after.updatedAt);
          q = q.or(`updated_at.lt.${t},and(updated_at.eq.${t},id.lt.${args.after.id})`);
        }
        return q
          .order('updated_at', { ascending: false })
          .order('id', { ascending: false })
          .limit(args.limit);
      },
      () =>
        this.db
          .from('chat_sessions')
          .select('id', { count: 'exact', head: true })
          .eq('user_id', args.userId),
    );
    return { rows: unwrap(res.page, z.array(chatSessionRow), 'chat_sessions'), total: res.total };
  }

  async createSession(row: {
    user_id: string;
    character_id: string;
    book_id: string;
    title: string | null;
    reading_chapter?: number | null;
    reading_percent?: number | null;
    reading_max_chunk_index?: number | null;
  }): Promise<ChatSessionRow> {
    const res = await this.db.from('chat_sessions').insert(row).select('*').single();
    return unwrap(res, chatSessionRow, 'chat_sessions');
  }

  /** Sets a session's title, if it is the reader's; null when no such session of theirs. */
  async renameSession(id: string, userId: string, title: string): Promise<ChatSessionRow | null> {
    const res = await this.db
      .from('chat_sessions')
      .update({ title })
      .eq('id', id)
      .eq('user_id', userId)
      .select('*');
    const [row] = unwrap(res, z.array(chatSessionRow), 'chat_sessions');
    if (row) await this.written(row.id);
    return row ?? null;
  }

  /** Sets a session's reading position (all null: none), if it is the reader's; else null. */
  async setReadingPosition(
    id: string,
    userId: string,
    position: {
      reading_chapter: number | null;
      reading_percent: number | null;
      reading_max_chunk_index: number | null;
    },
  ): Promise<ChatSessionRow | null> {
    const res = await this.db
      .from('chat_sessions')
      .update(position)
      .eq('id', id)
      .eq('user_id', userId)
      .select('*');
    const [row] = unwrap(res, z.array(chatSessionRow), 'chat_sessions');
    if (row) await this.written(row.id);
    return row ?? null;
  }

  /**
   * Saves, for every session of the book with a reading position, the bound `boundOf` gives its
   * chapter or percent (after the book was indexed again): one update per bound that changed,
   * by session ids. Returns how many sessions changed.
   */
  async reboundReadingPositions(
    bookId: string,
    boundOf: (position: {
      reading_chapter: number | null;
      reading_percent: number | null;
    }) => number | null,
  ): Promise<number> {
    const res = await this.db
      .from('chat_sessions')
      .select('id, reading_chapter, reading_percent, reading_max_chunk_index')
      .eq('book_id', bookId)
      .or('reading_chapter.not.is.null,reading_percent.not.is.null');
    const rows = unwrap(res, z.array(positionRow), 'chat_sessions');
    const changed = new Map<number | null, string[]>();
    for (const row of rows) {
      const bound = boundOf(row);
      if (bound === row.reading_max_chunk_index) continue;
      changed.set(bound, [...(changed.get(bound) ?? []), row.id]);
    }
    let count = 0;
    for (const [bound, ids] of changed) {
      for (let i = 0; i < ids.length; i += REBOUND_BATCH) {
        const batch = ids.slice(i, i + REBOUND_BATCH);
        const updated = await this.db
          .from('chat_sessions')
          .update({ reading_max_chunk_index: bound })
          .in('id', batch)
          .select('id');
        const written = unwrap(updated, z.array(z.object({ id: z.string() })), 'chat_sessions');
        for (const row of written) await this.written(row.id);
        count += written.length;
      }
    }
    return count;
  }

  /** The messages of these first versions and their alternatives, oldest first. */
  async versionsOf(rootIds: readonly string[]): Promise<MessageRow[]> {
    if (rootIds.length === 0) return [];
    const list = rootIds.join(',');
    const res = await this.db
      .from('messages')
      .select('*')
      .or(`id.in.(${list}),alternative_of.in.(${list})`)
      .order('created_at');
    return unwrap(res, z.array(messageRow), 'messages');
  }

  /**
   * Deletes a session, if it is the reader's; its messages and its fencing row go with it (their
   * foreign keys cascade), in the one statement. The deleted row, or null when there was none.
   */
  async deleteSession(id: string, userId: string): Promise<ChatSessionRow | null> {
    const res = await this.db
      .from('chat_sessions')
      .delete()
      .eq('id', id)
      .eq('user_id', userId)
      .select('*');
    const [row] = unwrap(res, z.array(chatSessionRow), 'chat_sessions');
    if (row) await this.written(row.id);
    return row ?? null;
  }

  /**
   * A page of a session's messages in time order. `direction: 'forward'` reads the oldest after
   * `cursor`; `backward` reads the newest before it (returned oldest first). With `count`, `total`
   * is the number of all the session's messages (see `withTotal`).
   */
  async messagesPage(args: {
    sessionId: string;
    /** The branch to read (null or absent: the session's original one). */
    branchId?: string | null | undefined;
    limit: number;
    direction: 'forward' | 'backward';
    cursor?: string | undefined;
    count?: boolean | undefined;
  }): Promise<Page<MessageRow>> {
    const forward = args.direction === 'forward';
    const branchId = args.branchId ?? null;
    // The original branch is a plain filter; any other is its chain of forks, which
    // chat_branch_messages walks (PostgREST filters, orders and counts its rows like a table's).
    const read = (options: { count?: 'exact'; head?: boolean }, columns: string) =>
      branchId === null
        ? this.db
            .from('messages')
            .select(columns, options)
            .eq('session_id', args.sessionId)
            .is('branch_id', null)
        : this.db
            .rpc(
              'chat_branch_messages',
              { p_session_id: args.sessionId, p_branch_id: branchId },
              { get: true, ...options },
            )
            .select(columns);
    const res = await withTotal(
      args.count === true,
      !!args.cursor,
      (count) => {
        let q = read(count ? { count: 'exact' } : {}, '*');
        if (args.cursor)
          q = forward ? q.gt('created_at', args.cursor) : q.lt('created_at', args.cursor);
        return q.order('created_at', { ascending: forward }).limit(args.limit);
      },
      () => read({ count: 'exact', head: true }, 'id'),
    );
    const rows = unwrap(res.page, z.array(messageRow), 'messages');
    return { rows: forward ? rows : rows.reverse(), total: res.total };
  }
}

/** A page of rows and, when it was asked for, the number of rows of the whole list. */
export interface Page<T> {
  rows: T[];
  total: number | null;
}

type Counted = { data: unknown; error: PostgrestError | null; count: number | null };

/**
 * The total of a list read with a page of it. With no cursor the page's own request carries it
 * (PostgREST's `Prefer: count=exact`: one round trip). After a cursor the page's filter no longer
 * covers the whole list, so a count-only request (`HEAD`) runs alongside the page's, at once.
 */
async function withTotal(
  count: boolean,
  hasCursor: boolean,
  page: (inlineCount: boolean) => PromiseLike<Counted>,
  countOnly: () => PromiseLike<Counted>,
): Promise<{ page: Counted; total: number | null }> {
  if (!count) return { page: await page(false), total: null };
  if (!hasCursor) {
    const res = await page(true);
    return { page: res, total: res.error ? null : countOf(res) };
  }
  const [res, counted] = await Promise.all([page(false), countOnly()]);
  if (counted.error) throw fromPostgrestError(counted.error, 'count');
  return { page: res, total: countOf(counted) };
}

function countOf(res: Counted): number {
  if (typeof res.count !== 'number')
    throw new Error('Supabase answered a count request without a count');
  return res.count;
}

const savedTurn = z.object({
  user_message: messageRow,
  reply: messageRow.nullable(),
  session: chatSessionRow,
  replayed: z.boolean(),
});
/** What `save_chat_turn` and `save_chat_fork` answer. */
export type SavedTurn = z.infer<typeof savedTurn>;

const begunTurn = z.object({
  fence: z.coerce.number().int().positive(),
  user_message: messageRow.nullable(),
  reply: messageRow.nullable(),
  session: chatSessionRow.nullable(),
});

/**
 * A turn's start: its fencing number, the session as it is now (its reading position and branch
 * change under the session lock only) and, for a client message id saved before, that turn.
 */
export interface BegunTurn {
  fence: number;
  session: ChatSessionRow | null;
  saved: { user: MessageRow; reply: MessageRow | null; session: ChatSessionRow } | null;
}

/**
 * Chat turn persistence: a turn's start (`begin_chat_turn`: its fencing number and the replay
 * look-up, one round trip) and the fenced `save_chat_turn` function (one transaction). A save whose fence is not the session's latest (a newer turn took the lock meanwhile)
 * writes nothing and is a `Conflict` (`stale_fence`).
 */
export class ChatTurnStore {
  constructor(
    private readonly db: SupabaseClient,
    private readonly written: SessionWritten = nothing,
  ) {}

  /**
   * Takes the session's next fencing number and, with a client message id, finds the turn saved
   * with it (after the fence is taken, in the same call); taken once per lock acquisition.
   */
  async beginTurn(sessionId: string, clientMessageId: string | null): Promise<BegunTurn> {
    const res = await this.db.rpc('begin_chat_turn', {
      p_session_id: sessionId,
      p_client_message_id: clientMessageId,
    });
    // The session was deleted while this turn waited for its lock.
    if (res.error?.code === 'P0002') throw new NotFound('Chat session', sessionId);
    const row = unwrap(res, begunTurn, 'begin_chat_turn');
    return {
      fence: row.fence,
      session: row.session,
      saved:
        row.user_message && row.session
          ? { user: row.user_message, reply: row.reply, session: row.session }
          : null,
    };
  }

  async saveTurn(args: {
    sessionId: string;
    userId: string;
    fence: number;
    userContent: string;
    replyContent: string;
    citations: unknown[];
    clientMessageId: string | null;
    previewLength: number;
  }): Promise<SavedTurn> {
    return this.save('save_chat_turn', args.sessionId, null, {
      p_session_id: args.sessionId,
      p_user_id: args.userId,
      p_fence: args.fence,
      p_user_content: args.userContent,
      p_reply_content: args.replyContent,
      p_citations: args.citations,
      p_client_message_id: args.clientMessageId,
      p_preview_length: args.previewLength,
    });
  }

  /** A fenced save function's call: its refusals as the store's errors, the cache told after. */
  private async save(
    fn: 'save_chat_turn' | 'save_chat_fork',
    sessionId: string,
    messageId: string | null,
    params: Record<string, unknown>,
  ): Promise<SavedTurn> {
    const res = await this.db.rpc(fn, params);
    fencedSaveErrors(res.error, sessionId, messageId);
    const saved = unwrap(res, savedTurn, fn);
    if (!saved.replayed) await this.written(sessionId);
    return saved;
  }

  /**
   * The reader's message a reply answers: the one right before the reply's first version on that
   * version's branch (a reply and its question are always saved together, one after the other).
   */
  async questionOf(reply: MessageRow): Promise<MessageRow | null> {
    let root = reply;
    if (reply.alternative_of) {
      const res = await this.db.from('messages').select('*').eq('id', reply.alternative_of);
      const [first] = unwrap(res, z.array(messageRow), 'messages');
      if (!first) return null;
      root = first;
    }
    const user = await this.neighbour(root, 'before');
    return user?.role === 'user' ? user : null;
  }

  /** The message right before or after `m` among those of its own branch. */
  private async neighbour(
    m: MessageRow,
    side: 'before' | 'after',
    role?: MessageRow['role'],
  ): Promise<MessageRow | null> {
    let q = this.db.from('messages').select('*').eq('session_id', m.session_id);
    q = m.branch_id === null ? q.is('branch_id', null) : q.eq('branch_id', m.branch_id);
    if (role) q = q.eq('role', role);
    q = side === 'after' ? q.gt('created_at', m.created_at) : q.lt('created_at', m.created_at);
    const res = await q.order('created_at', { ascending: side === 'after' }).limit(1);
    const [row] = unwrap(res, z.array(messageRow), 'messages');
    return row ?? null;
  }

  /**
   * A regenerated reply (`kind: 'regenerate'`, `targetId` the reply) or an edited reader message
   * with its reply (`edit`, `targetId` the reader's message), saved by `save_chat_fork` in one
   * fenced transaction on a new branch that the session then shows. A replay of a saved
   * `clientMessageId` returns it and writes nothing.
   */
  async saveFork(args: {
    sessionId: string;
    userId: string;
    fence: number;
    kind: 'regenerate' | 'edit';
    targetId: string;
    userContent: string | null;
    replyContent: string;
    citations: unknown[];
    clientMessageId: string | null;
    previewLength: number;
  }): Promise<SavedTurn> {
    return this.save('save_chat_fork', args.sessionId, args.targetId, {
      p_session_id: args.sessionId,
      p_user_id: args.userId,
      p_fence: args.fence,
      p_kind: args.kind,
      p_target_id: args.targetId,
      p_user_content: args.userContent,
      p_reply_content: args.replyContent,
      p_citations: args.citations,
      p_client_message_id: args.clientMessageId,
      p_preview_length: args.previewLength,
    });
  }

  /** Makes the branch holding `messageId` the one the session shows (fenced); the session after. */
  async selectBranch(args: {
    sessionId: string;
    userId: string;
    fence: number;
    messageId: string;
    previewLength: number;
  }): Promise<ChatSessionRow> {
    const res = await this.db.rpc('select_chat_branch', {
      p_session_id: args.sessionId,
      p_user_id: args.userId,
      p_fence: args.fence,
      p_message_id: args.messageId,
      p_preview_length: args.previewLength,
    });
    fencedSaveErrors(res.error, args.sessionId, args.messageId);
    const row = unwrap(res, chatSessionRow, 'select_chat_branch');
    await this.written(args.sessionId);
    return row;
  }
}

/** The fenced save functions' refusals as the store's errors (anything else is left to `unwrap`). */
function fencedSaveErrors(
  error: PostgrestError | null,
  sessionId: string,
  messageId: string | null,
): void {
  if (!error) return;
  if (error.code === 'PT409') throw new Conflict('stale_fence', error.message);
  if (error.code === 'P0002') throw new NotFound('Chat session', sessionId);
  if (error.code === 'PT404' && messageId) throw new NotFound('Message', messageId);
  if (error.code === 'PT422') throw new InvalidValue(error.message);
}
