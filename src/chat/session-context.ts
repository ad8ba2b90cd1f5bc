import { z } from 'zod';
import type { Logger } from '../logger.js';
import type { MessageRow } from '../models.js';
import { summarize } from '../providers/llm-local.js';
import type { Llm } from '../providers/types.js';
import type { ChatStore } from '../stores/chat-store.js';
import type { StoreCallCounter } from '../stores/metrics.js';
import type { RedisClient } from '../stores/redis.js';

const RECENT_MESSAGES = 10;
const REBUILD_WINDOW = 40;

const contextMessage = z.object({
  id: z.string(),
  role: z.enum(['user', 'assistant', 'system']),
  content: z.string(),
  created_at: z.string(),
});
const sessionContext = z.object({
  summary: z.string(),
  messages: z.array(contextMessage),
});
export type SessionContext = z.infer<typeof sessionContext>;

/** Which of a session's messages a context is made of. */
export interface ContextView {
  /** The branch (null or absent: the original one). */
  branchId?: string | null | undefined;
  /** The reading position's last chunk: replies citing past it are left out. */
  maxChunkIndex?: number | null | undefined;
  /** Only messages before this created_at. */
  before?: string | undefined;
}

export const sessionKey = (sessionId: string) => `chat:sess:${sessionId}`;

/**
 * The session context cache `chat:sess:{session_id}` (EX 3600): the last 10 messages and a running
 * summary of the older ones. On a miss it is rebuilt from Supabase in one read (the last 40
 * messages: 10 kept, the rest summarised by the model, or extractively by the offline one).
 * After a turn the new messages are appended; those pushed out of the last 10 are folded into the
 * summary extractively (no model call on the hot path). It holds the branch the session shows; a
 * change of branch or of reading position replaces or drops it.
 */
export class SessionContextCache {
  constructor(
    private readonly deps: {
      redis: RedisClient;
      counter: StoreCallCounter;
      chatStore: ChatStore;
      llm: Llm;
      logger: Logger;
      ttlSeconds: number;
    },
  ) {}

  /**
   * The cached context, else the context rebuilt from Supabase and cached. `from: 'cache'` only
   * reads the cache (null on a miss); `from: 'store'` only rebuilds (after such a miss). A caller
   * reads the cache alongside another check and rebuilds only if it still needs the context
   * (a replayed turn must not call the model for a summary). `cacheRebuilt: false` leaves the
   * write to the caller (a turn writes the context once, after it saved).
   */
  async load(
    sessionId: string,
    options?: { from?: 'store'; cacheRebuilt?: boolean; view?: ContextView },
  ): Promise<SessionContext>;
  async load(sessionId: string, options: { from: 'cache' }): Promise<SessionContext | null>;
  async load(
    sessionId: string,
    options: { from?: 'cache' | 'store'; cacheRebuilt?: boolean; view?: ContextView } = {},
  ): Promise<SessionContext | null> {
    const { redis, counter, logger } = this.deps;
    if (options.from !== 'store') {
      try {
        const raw = await counter.time('redis', 'get', () => redis.get(sessionKey(sessionId)));
        if (raw) {
          const parsed = sessionContext.safeParse(JSON.parse(raw));
          if (parsed.success) return parsed.data;
        }
      } catch (err) {
        logger.warn({ err: String(err) }, 'session context read failed; rebuilding');
      }
      if (options.from === 'cache') return null;
    }
    const context = await this.rebuild(sessionId, options.view ?? {});
    if (options.cacheRebuilt !== false && !options.view?.before) {
      await this.store(sessionId, context);
    }
    return context;
  }

  /**
   * The context as read from Supabase: of the branch the view names, before `before` when given
   * (a message being answered again), and without the replies that cite a passage past the
   * reading position (what the reader read later, then went back from, stays out of the prompt).
   */
  async rebuild(sessionId: string, view: ContextView): Promise<SessionContext> {
    const { rows: read } = await this.deps.chatStore.messagesPage({
      sessionId,
      branchId: view.branchId ?? null,
      limit: REBUILD_WINDOW,
      direction: 'backward',
      cursor: view.before,
    });
    const bound = view.maxChunkIndex ?? null;
    const rows =
      bound === null
        ? read
        : read.filter((m) => !(m.citations ?? []).some((c) => c.chunk_index > bound));
    const recent = rows.slice(-RECENT_MESSAGES);
    const older = rows.slice(0, Math.max(rows.length - RECENT_MESSAGES, 0));
    let summary = '';
    if (older.length > 0) {
      const transcript = older.map((m) => `${m.role}: ${m.content}`).join('\n');
      summary =
        this.deps.llm.kind === 'local'
          ? summarize(transcript)
          : await this.deps.llm
              .complete({
                messages: [
                  {
                    role: 'system',
                    content:
                      'Summarise this conversation between a reader and a book character in at most 5 sentences. Keep names, facts the reader shared, and open questions.',
                  },
                  { role: 'user', content: transcript },
                ],
                temperature: 0,
                maxTokens: 250,
                hints: { task: 'summary' },
              })
              .catch(() => summarize(transcript));
    }
    return { summary, messages: recent.map(toContextMessage) };
  }

  /** The context after a turn: the new messages appended, overflow folded into the summary. */
  static advance(context: SessionContext, added: readonly MessageRow[]): SessionContext {
    const all = [...context.messages, ...added.map(toContextMessage)];
    const overflow = all.slice(0, Math.max(all.length - RECENT_MESSAGES, 0));
    const summary =
      overflow.length === 0
        ? context.summary
        : summarize(
            [context.summary, ...overflow.map((m) => `${m.role}: ${m.content}`)]
              .filter(Boolean)
              .join('\n'),
          );
    return { summary, messages: all.slice(-RECENT_MESSAGES) };
  }

  async store(sessionId: string, context: SessionContext): Promise<void> {
    const { redis, counter, logger, ttlSeconds } = this.deps;
    try {
      await counter.time('redis', 'set', () =>
        redis.set(sessionKey(sessionId), JSON.stringify(context), 'EX', ttlSeconds),
      );
    } catch (err) {
      logger.warn({ err: String(err) }, 'session context write failed');
    }
  }

  /**
   * Drops a session's context. For a deleted session a failure is logged (its TTL removes it);
   * with `required` (the session lives on and its context no longer holds) it is thrown.
   */
  async drop(sessionId: string, options: { required?: boolean } = {}): Promise<void> {
    const { redis, counter, logger } = this.deps;
    try {
      await counter.time('redis', 'del', () => redis.del(sessionKey(sessionId)));
    } catch (err) {
      if (options.required) throw err;
      // The context of a deleted session is never read again (every read checks the session
      // row first).
      logger.warn({ err: String(err) }, 'session context drop failed');
    }
  }
}

function toContextMessage(m: MessageRow) {
  return { id: m.id, role: m.role, content: m.content, created_at: m.created_at };
}
