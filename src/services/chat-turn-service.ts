import { Repeater } from 'graphql-yoga';
import type { Viewer } from '../auth.js';
import type { FusedPassage } from '../chat/fusion.js';
import { buildPrompt } from '../chat/prompt.js';
import type { QueryRewriter } from '../chat/query-rewriter.js';
import { withBoundNow } from '../chat/reading-position.js';
import type { HybridRetriever } from '../chat/retrieval.js';
import { type SessionContext, SessionContextCache } from '../chat/session-context.js';
import type { LockHandle, SessionLocks } from '../chat/session-lock.js';
import type { Config } from '../config.js';
import { AppError, badInput, isUuid, notFound, parseId } from '../errors.js';
import type { Loaders } from '../loaders.js';
import type { Logger } from '../logger.js';
import type {
  BookRow,
  CharacterRow,
  ChatSessionRow,
  CitationValue,
  GeneratedBy,
  MessageRow,
} from '../models.js';
import type { ResponseWarnings } from '../observability/warnings.js';
import { type Llm, LlmUnavailableError } from '../providers/types.js';
import type { ChatTurnStore, SavedTurn } from '../stores/chat-store.js';
import type { ChunkOutline } from '../stores/chunks.js';
import type { StoreCallCounter } from '../stores/metrics.js';
import { codePoints, isBlank } from '../util/text.js';
import { requireCompletedBook, requireOwnSession } from './chat-access.js';

export interface TurnResult {
  userMessage: MessageRow;
  reply: MessageRow;
  session: ChatSessionRow;
  replayed: boolean;
}

/** A turn as it arrives: the session, the reader's message and the client's message id. */
export interface TurnInput {
  sessionId: string;
  content: string;
  clientMessageId?: string | null | undefined;
}

type CheckedTurnInput = { sessionId: string; content: string; clientMessageId: string | null };

export const PREVIEW_LENGTH = 160;

/** What a turn needs: the chat settings, the session locks, the turn store and the chat steps. */
export interface ChatTurnDeps {
  settings: Config['chat'];
  logger: Logger;
  counter: StoreCallCounter;
  llm: Llm;
  locks: SessionLocks;
  turns: ChatTurnStore;
  context: SessionContextCache;
  rewriter: QueryRewriter;
  retriever: HybridRetriever;
  /** The request's warnings: a search that went on without one retriever is told there. */
  warnings: ResponseWarnings;
  /** The book's chunks as indexed now, for the reading position's bound. */
  outline: (bookId: string) => Promise<ChunkOutline[]>;
}

/** A reply as generated, before it is saved. */
export interface Answer {
  text: string;
  citations: CitationValue[];
}

/** The session's character and book, once they are known to allow a chat. */
export interface Chattable {
  character: CharacterRow;
  book: BookRow;
}

/**
 * One chat turn, end to end (the chat-turn flow of the README): check the input and the session, take
 * the session lock, load the context, rewrite the message into two queries, retrieve and fuse
 * passages, generate the reply (deltas to `onDelta` as they come), check the lock is still ours,
 * save the turn atomically, refresh the session context, release the lock. Right after the lock,
 * the turn takes a fencing number from PostgreSQL, in the same call that looks for a replay; the
 * save refuses it (LOCK_LOST) once a newer turn has taken one, so a turn that lost the lock cannot
 * write even if it passed the Redis check. A retry with a saved clientMessageId returns the saved
 * turn without calling the model. A model failure saves nothing (UPSTREAM_ERROR). The turn does not
 * depend on the caller staying: it runs to the end and is saved.
 */
export class ChatTurnService {
  constructor(
    private readonly deps: ChatTurnDeps,
    private readonly loaders: Pick<Loaders, 'session' | 'character' | 'book'>,
  ) {}

  async send(
    viewer: Viewer,
    input: TurnInput,
    onDelta?: (text: string) => void,
  ): Promise<TurnResult> {
    const turn = parseTurnInput(input, this.deps.settings.messageMaxChars);
    const { session, chattable } = await this.requireChattableSession(viewer, turn.sessionId);
    return this.deps.locks.withLock(session.id, async (lock) => {
      const { character, book } = await chattable;
      // The fencing number of this holding, taken before anything is read (in the one call that
      // also looks for a replay): a save by an older holder that commits after this is refused,
      // and one that committed before it is seen by the look-up. Under the lock, so a concurrent
      // retry of the same message cannot answer twice. The context cache is read alongside; a
      // miss is rebuilt only once this is not a replay (the rebuild may ask the model for a
      // summary, and a replay calls no model).
      const [begun, cached] = await Promise.all([
        this.deps.turns.beginTurn(session.id, turn.clientMessageId),
        this.deps.context.load(session.id, { from: 'cache' }),
      ]);
      const saved = begun.saved;
      if (saved?.reply) {
        return {
          userMessage: saved.user,
          reply: saved.reply,
          session: saved.session,
          replayed: true,
        };
      }
      // The session as it is under the lock: its reading position and branch change under this
      // lock only. Its bound is resolved on the book as it is indexed now.
      const current = await withBoundNow(begun.session ?? session, this.deps.outline);
      const context =
        cached ??
        (await this.deps.context.load(session.id, {
          from: 'store',
          cacheRebuilt: false,
          view: {
            branchId: current.current_branch_id,
            maxChunkIndex: current.reading_max_chunk_index,
          },
        }));
      const reply = await this.answer(
        { character, book, session: current },
        context,
        turn.content,
        onDelta,
      );
      return this.persist(viewer, turn, begun.fence, context, reply, lock);
    });
  }

  /**
   * The viewer's session (NOT_FOUND otherwise, also for someone else's) and, still loading, its
   * character and book, checked to allow a chat (FAILED_PRECONDITION unless the book is completed).
   * They load while the lock is being taken; the lock is taken only after the ownership check, so
   * nobody can hold others' sessions.
   */
  private async requireChattableSession(
    viewer: Viewer,
    sessionId: string,
  ): Promise<{ session: ChatSessionRow; chattable: Promise<Chattable> }> {
    const session = await requireOwnSession(this.loaders.session, viewer, sessionId);
    const chattable = Promise.all([
      this.loaders.character.load(session.character_id),
      this.loaders.book.load(session.book_id),
    ]).then(([character, book]) => {
      if (!character || !book) throw notFound('Chat session', sessionId);
      requireCompletedBook(book, 'chat');
      return { character, book };
    });
    chattable.catch(() => {}); // awaited under the lock; this only keeps an early SESSION_BUSY from leaving it unhandled
    return { session, chattable };
  }

  /**
   * The reply: the message rewritten into two queries, passages retrieved up to the session's
   * reading position, the prompt (which tells the character where the reader is), the model.
   * Writes nothing.
   */
  async answer(
    { character, book, session }: Chattable & { session: ChatSessionRow },
    context: SessionContext,
    content: string,
    onDelta: ((text: string) => void) | undefined,
  ): Promise<Answer> {
    const { settings } = this.deps;
    const queries = await this.deps.rewriter.rewrite(
      character.id,
      character.name,
      content,
      context.messages,
    );
    const { passages, unavailable } = await this.deps.retriever.retrieve(book.id, queries, {
      candidates: settings.candidates,
      keep: settings.keep,
      maxChunkIndex: session.reading_max_chunk_index,
    });
    this.deps.warnings.searchDegraded(unavailable);
    const prompt = buildPrompt({
      character,
      book,
      context,
      passages,
      message: content,
      budget: settings.promptTokenBudget,
      readingPosition: { chapter: session.reading_chapter, percent: session.reading_percent },
    });
    const text = await this.generate(
      prompt.messages,
      prompt.passages,
      character.name,
      content,
      onDelta,
    );
    const by = generatedBy(this.deps.llm);
    return { text, citations: prompt.passages.map((p) => toCitation(p, by)) };
  }

  /** Saves the turn if the lock and the fence are still this turn's, then advances the context. */
  private async persist(
    viewer: Viewer,
    turn: CheckedTurnInput,
    fence: number,
    context: SessionContext,
    reply: Answer,
    lock: LockHandle,
  ): Promise<TurnResult> {
    await lock.assertHeld();
    const saved = await this.deps.turns.saveTurn({
      sessionId: turn.sessionId,
      userId: viewer.id,
      fence,
      userContent: turn.content,
      replyContent: reply.text,
      citations: reply.citations,
      clientMessageId: turn.clientMessageId,
      previewLength: PREVIEW_LENGTH,
    });
    return afterSave(saved, 'save_chat_turn', context, this.deps.context, this.loaders);
  }

  private async generate(
    messages: Parameters<Llm['stream']>[0]['messages'],
    passages: readonly FusedPassage[],
    characterName: string,
    userMessage: string,
    onDelta?: (text: string) => void,
  ): Promise<string> {
    const { llm, counter, settings } = this.deps;
    try {
      return await counter.time('llm', 'generate', async () => {
        // The reply is saved trimmed, so the deltas are too: leading whitespace is dropped and
        // trailing whitespace is held back until more text follows it. The deltas then add up
        // to exactly the saved reply.
        let text = '';
        let heldBack = '';
        for await (const delta of llm.stream({
          messages,
          temperature: 0.7,
          maxTokens: settings.replyMaxTokens,
          hints: {
            task: 'reply',
            characterName,
            userMessage,
            paced: onDelta !== undefined,
            passages: passages.map((p) => ({
              chunkIndex: p.chunk.chunk_index,
              text: p.chunk.text,
            })),
          },
        })) {
          const piece = text ? heldBack + delta : delta.trimStart();
          const body = piece.trimEnd();
          heldBack = piece.slice(body.length);
          if (!body) continue;
          text += body;
          onDelta?.(body);
        }
        if (!text) throw new LlmUnavailableError('the model returned an empty reply');
        return text;
      });
    } catch (err) {
      this.deps.logger.error(
        { err: err instanceof Error ? err.message : String(err) },
        'generation failed',
      );
      throw new AppError(
        'UPSTREAM_ERROR',
        'The character could not answer right now; nothing was saved. Try again.',
        {
          retryable: true,
          cause: err,
        },
      );
    }
  }

  /** The turn of `send`, streamed; bad input is refused at once, before the stream starts. */
  stream(viewer: Viewer, input: TurnInput): Repeater<TurnStreamEvent> {
    const turn = parseTurnInput(input, this.deps.settings.messageMaxChars);
    return streamTurn((onDelta) => this.send(viewer, turn, onDelta));
  }
}

/**
 * A turn's session id, its message as it is saved (trimmed) and its client message id, checked;
 * BAD_USER_INPUT otherwise.
 */
export function parseTurnInput(input: TurnInput, maxChars: number): CheckedTurnInput {
  const sessionId = parseId(input.sessionId, 'sessionId');
  const content = parseMessageContent(input.content, maxChars);
  return { sessionId, content, clientMessageId: parseClientMessageId(input.clientMessageId) };
}

/** A reader's message as it is saved (trimmed), checked; BAD_USER_INPUT otherwise. */
export function parseMessageContent(raw: string, maxChars: number): string {
  const content = raw.trim();
  if (isBlank(content)) throw badInput('content must not be empty', 'content');
  // Characters as a reader counts them (code points, not UTF-16 units), of what is saved.
  if (codePoints(content) > maxChars) {
    throw badInput(`content must be at most ${maxChars} characters`, 'content');
  }
  return content;
}

/** A client message id (the idempotency key of a write): null, or a UUID; BAD_USER_INPUT otherwise. */
export function parseClientMessageId(raw: string | null | undefined): string | null {
  const clientMessageId = raw ?? null;
  if (clientMessageId !== null && !isUuid(clientMessageId)) {
    throw badInput('clientMessageId must be a UUID', 'clientMessageId');
  }
  return clientMessageId;
}

function toCitation(p: FusedPassage, generated_by: GeneratedBy): CitationValue {
  return {
    chunk_index: p.chunk.chunk_index,
    text: p.chunk.text,
    score: p.score,
    chapter: p.chunk.chapter,
    generated_by,
  };
}

/** How this gateway writes replies: quoting the passages (offline fallback) or with a model. */
function generatedBy(llm: Llm): GeneratedBy {
  return llm.kind === 'local' ? 'extractive' : 'language_model';
}

type TurnStreamEvent = { kind: 'delta'; text: string } | ({ kind: 'done' } & TurnResult);

/**
 * Runs a turn and streams its reply deltas, then the saved turn. Deltas that come while the
 * consumer is busy are joined into one. The turn runs detached from the consumer: if the client
 * goes away mid-stream, the stream ends at once and the turn still completes and is saved.
 */
export function streamTurn(
  run: (onDelta: (t: string) => void) => Promise<TurnResult>,
): Repeater<TurnStreamEvent> {
  return new Repeater<TurnStreamEvent>(async (push, stop) => {
    let pending = '';
    let sending = false;
    const flush = (): void => {
      if (sending || !pending) return;
      const text = pending;
      pending = '';
      sending = true;
      // Resolves once the consumer asks for more (or has gone): then what came meanwhile goes.
      void push({ kind: 'delta', text }).then(() => {
        sending = false;
        flush();
      });
    };
    const turn = run((t) => {
      pending += t;
      flush();
    }).then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    const outcome = await Promise.race([turn, stop.then(() => null)]);
    if (!outcome) return;
    if (pending) void push({ kind: 'delta', text: pending });
    pending = '';
    if (!outcome.ok) throw outcome.error;
    void push({ kind: 'done', ...outcome.value });
    stop();
  });
}

/**
 * After a saved turn or fork: the session context advanced by the two new messages (not for a
 * replay, which wrote nothing), the request's session row replaced by the saved one, the result.
 */
export async function afterSave(
  saved: SavedTurn,
  fn: string,
  context: SessionContext,
  contexts: SessionContextCache,
  loaders: Pick<Loaders, 'session'>,
): Promise<TurnResult> {
  if (!saved.reply) throw new Error(`${fn} returned no reply`);
  if (!saved.replayed) {
    await contexts.store(
      saved.session.id,
      SessionContextCache.advance(context, [saved.user_message, saved.reply]),
    );
  }
  loaders.session.clear(saved.session.id).prime(saved.session.id, saved.session);
  return {
    userMessage: saved.user_message,
    reply: saved.reply,
    session: saved.session,
    replayed: saved.replayed,
  };
}
