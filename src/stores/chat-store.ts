import type { SupabaseClient } from '@supabase/supabase-js';
import { z } from 'zod';
import { lockLost } from '../errors.js';
import { pgrstQuote, unwrap } from './postgrest.js';
import { type ChatSessionRow, chatSessionRow, type MessageRow, messageRow } from './rows.js';

/** Supabase I/O for chat sessions and messages. */
export class ChatStore {
  constructor(private readonly db: SupabaseClient) {}

  async sessionsByIds(ids: readonly string[]): Promise<ChatSessionRow[]> {
    if (ids.length === 0) return [];
    const res = await this.db
      .from('chat_sessions')
      .select('*')
      .in('id', [...ids]);
    return unwrap(res, z.array(chatSessionRow), 'chat_sessions');
  }

  /** A reader's sessions, most recently active first, keyset on (updated_at, id). */
  async sessionsPage(args: {
    userId: string;
    limit: number;
    after?: { updatedAt: string; id: string } | undefined;
  }): Promise<ChatSessionRow[]> {
    let q = this.db.from('chat_sessions').select('*').eq('user_id', args.userId);
    if (args.after) {
      const t = pgrstQuote(args.after.updatedAt);
      q = q.or(`updated_at.lt.${t},and(updated_at.eq.${t},id.lt.${args.after.id})`);
    }
    const res = await q
      .order('updated_at', { ascending: false })
      .order('id', { ascending: false })
      .limit(args.limit);
    return unwrap(res, z.array(chatSessionRow), 'chat_sessions');
  }

  async createSession(row: {
    user_id: string;
    character_id: string;
    book_id: string;
    title: string | null;
  }): Promise<ChatSessionRow> {
    const res = await this.db.from('chat_sessions').insert(row).select('*').single();
    return unwrap(res, chatSessionRow, 'chat_sessions');
  }

  /**
   * A page of a session's messages in time order. `direction: 'forward'` reads the oldest after
   * `cursor`; `backward` reads the newest before it (returned oldest first).
   */
  async messagesPage(args: {
    sessionId: string;
    limit: number;
    direction: 'forward' | 'backward';
    cursor?: string | undefined;
  }): Promise<MessageRow[]> {
    let q = this.db.from('messages').select('*').eq('session_id', args.sessionId);
    const forward = args.direction === 'forward';
    if (args.cursor)
      q = forward ? q.gt('created_at', args.cursor) : q.lt('created_at', args.cursor);
    const res = await q.order('created_at', { ascending: forward }).limit(args.limit);
    const rows = unwrap(res, z.array(messageRow), 'messages');
    return forward ? rows : rows.reverse();
  }
}

export const savedTurn = z.object({
  user_message: messageRow,
  reply: messageRow.nullable(),
  session: chatSessionRow,
  replayed: z.boolean(),
});
export type SavedTurn = z.infer<typeof savedTurn>;

/**
 * Chat turn persistence: fencing numbers (`take_chat_turn_fence`), the fenced `save_chat_turn`
 * function (one transaction) and replay look-ups. A save whose fence is not the session's latest
 * (a newer turn took the lock meanwhile) writes nothing and is LOCK_LOST.
 */
export class ChatTurnStore {
  constructor(private readonly db: SupabaseClient) {}

  /** The session's next fencing number; taken once per lock acquisition, right after it. */
  async takeFence(sessionId: string): Promise<number> {
    const res = await this.db.rpc('take_chat_turn_fence', { p_session_id: sessionId });
    return unwrap(res, z.coerce.number().int().positive(), 'take_chat_turn_fence');
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
    const res = await this.db.rpc('save_chat_turn', {
      p_session_id: args.sessionId,
      p_user_id: args.userId,
      p_fence: args.fence,
      p_user_content: args.userContent,
      p_reply_content: args.replyContent,
      p_citations: args.citations,
      p_client_message_id: args.clientMessageId,
      p_preview_length: args.previewLength,
    });
    if (res.error?.code === 'PT409') throw lockLost();
    return unwrap(res, savedTurn, 'save_chat_turn');
  }

  /** The turn saved for a client message id: the reader's message and the reply after it. */
  async findTurn(
    sessionId: string,
    clientMessageId: string,
  ): Promise<{ user: MessageRow; reply: MessageRow | null } | null> {
    const res = await this.db
      .from('messages')
      .select('*')
      .eq('session_id', sessionId)
      .eq('client_message_id', clientMessageId)
      .limit(1);
    const [user] = unwrap(res, z.array(messageRow), 'messages');
    if (!user) return null;
    const next = await this.db
      .from('messages')
      .select('*')
      .eq('session_id', sessionId)
      .eq('role', 'assistant')
      .gt('created_at', user.created_at)
      .order('created_at')
      .limit(1);
    const [reply] = unwrap(next, z.array(messageRow), 'messages');
    return { user, reply: reply ?? null };
  }
}
