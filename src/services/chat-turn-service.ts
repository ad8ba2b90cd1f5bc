import type { Viewer } from '../auth.js';
import type { FusedPassage } from '../chat/fusion.js';
import { searchQueries } from '../chat/keyword-query.js';
import { buildPrompt } from '../chat/prompt.js';
import { type SessionContext, SessionContextCache } from '../chat/session-context.js';
import { withSessionLock } from '../chat/session-lock.js';
import type { Deps } from '../deps.js';
import { AppError, badInput, isUuid, notFound } from '../errors.js';
import type { Loaders } from '../loaders.js';
import type {
  BookRow,
  CharacterRow,
  ChatSessionRow,
  CitationValue,
  GeneratedBy,
  MessageRow,
} from '../models.js';
import { LlmUnavailableError } from '../providers/types.js';
import { isBlank } from '../util/text.js';

export interface TurnResult {
  userMessage: MessageRow;
  reply: MessageRow;
  session: ChatSessionRow;
  replayed: boolean;
}

export interface SearchPassage {
  chunkIndex: number;
  text: string;
  chapter: string | null;
  start: number;
  end: number;
  score: number;
  vectorRank: number | null;
  keywordRank: number | null;
}

export const PREVIEW_LENGTH = 160;

/**
 * One chat turn, end to end (the chat-turn flow of the README): check the input and the session, take
 * the session lock, load the context, rewrite the message into two queries, retrieve and fuse
 * passages, generate the reply (deltas to `onDelta` as they come), check the lock is still ours,
 * save the turn atomically, refresh the session context, release the lock. Right after the lock,
 * the turn takes a fencing number from PostgreSQL; the save refuses it (LOCK_LOST) once a newer
 * turn has taken one, so a turn that lost the lock cannot write even if it passed the Redis check.
 * A retry with a saved clientMessageId returns the saved turn without calling the model. A model
 * failure saves nothing (UPSTREAM_ERROR). The turn does not depend on the caller staying: it runs
 * to the end and is saved.
 */
export class ChatTurnService {
  constructor(
    private readonly deps: Deps,
    private readonly loaders: Loaders,
  ) {}

  async send(
    viewer: Viewer,
    input: { sessionId: string; content: string; clientMessageId?: string | null | undefined },
    onDelta?: (text: string) => void,
  ): Promise<TurnResult> {
    const { config } = this.deps;
    const { content, clientMessageId } = checkTurnInput(input, config.chat.messageMaxChars);

    const session = await this.loaders.session.load(input.sessionId);
    if (!session || session.user_id !== viewer.id) throw notFound('Chat session', input.sessionId);
    // The session is the reader's: its character and book load while the lock is being taken
    // (the lock is taken only after the ownership check, so nobody can hold others' sessions).
    const loads = Promise.all([
      this.loaders.character.load(session.character_id),
      this.loaders.book.load(session.book_id),
    ]);
    loads.catch(() => {}); // awaited below; this only keeps an early SESSION_BUSY from leaving it unhandled

    const { redis, counter, chat } = this.deps;
    return withSessionLock(
      redis,
      counter,
      session.id,
      { ttlMs: config.chat.lockTtlMs, waitMs: config.chat.lockWaitMs, registry: this.deps.locks },
      async (lock) => {
        const [character, book] = await loads;
        if (!character || !book) throw notFound('Chat session', input.sessionId);
        if (book.processing_status !== 'completed') {
          throw new AppError(
            'FAILED_PRECONDITION',
            `The book "${book.title}" is ${book.processing_status}; chats open once it is completed`,
          );
        }
        // The fencing number of this holding, taken before anything is read: a save by an
        // older holder that commits after this is refused, and one that committed before it is
        // seen by the reads below.
        const fence = await chat.turns.takeFence(session.id);
        // The session as it is under the lock: its reading position and branch may have changed
        // since it was loaded (each changes under this lock only).
        const [current = session] = await this.deps.chatStore.sessionsByIds([session.id]);
        // Under the lock, so a concurrent retry of the same message cannot answer twice. The
        // context cache is read alongside; a miss is rebuilt only once this is not a replay
        // (the rebuild may ask the model for a summary, and a replay calls no model).
        const [saved, cached] = await Promise.all([
          clientMessageId
            ? chat.turns.findTurn(session.id, clientMessageId)
            : Promise.resolve(null),
          chat.context.load(session.id, { from: 'cache' }),
        ]);
        if (saved?.reply) {
          const [fresh] = await this.deps.chatStore.sessionsByIds([session.id]);
          return {
            userMessage: saved.user,
            reply: saved.reply,
            session: fresh ?? session,
            replayed: true,
          };
        }

        const context =
          cached ??
          (await chat.context.load(session.id, {
            from: 'store',
            cacheRebuilt: false,
            view: {
              branchId: current.current_branch_id,
              maxChunkIndex: current.reading_max_chunk_index,
            },
          }));
        const answer = await this.answer({
          session: current,
          character,
          book,
          context,
          content,
          onDelta,
        });
        await lock.assertHeld();
        const turn = await chat.turns.saveTurn({
          sessionId: session.id,
          userId: viewer.id,
          fence,
          userContent: content,
          replyContent: answer.text,
          citations: answer.citations,
          clientMessageId,
          previewLength: PREVIEW_LENGTH,
        });
        if (!turn.reply) throw new Error('save_chat_turn returned no reply');
        if (!turn.replayed) {
          await chat.context.store(
            session.id,
            SessionContextCache.advance(context, [turn.user_message, turn.reply]),
          );
        }
        this.loaders.session.clear(session.id).prime(session.id, turn.session);
        return {
          userMessage: turn.user_message,
          reply: turn.reply,
          session: turn.session,
          replayed: turn.replayed,
        };
      },
    );
  }

  /**
   * The character's reply to `content` after `context`: the message rewritten into two queries,
   * passages retrieved up to the session's reading position, the prompt (which tells where the
   * reader is), generation. Writes nothing.
   */
  async answer(input: {
    session: ChatSessionRow;
    character: CharacterRow;
    book: BookRow;
    context: SessionContext;
    content: string;
    onDelta?: ((text: string) => void) | undefined;
  }): Promise<{ text: string; citations: CitationValue[] }> {
    const { config, chat } = this.deps;
    const { session, character, book, context, content } = input;
    const queries = await chat.rewriter.rewrite(
      character.id,
      character.name,
      content,
      context.messages,
    );
    const { passages } = await chat.retriever.retrieve(book.id, queries, {
      candidates: config.chat.candidates,
      keep: config.chat.keep,
      maxChunkIndex: session.reading_max_chunk_index,
    });
    const prompt = buildPrompt({
      character,
      book,
      context,
      passages,
      message: content,
      budget: config.chat.promptTokenBudget,
      readingPosition: { chapter: session.reading_chapter, percent: session.reading_percent },
    });
    const text = await this.generate(
      prompt.messages,
      prompt.passages,
      character.name,
      content,
      input.onDelta,
    );
    return {
      text,
      citations: prompt.passages.map((p) => toCitation(p, generatedBy(this.deps.llm))),
    };
  }

  private async generate(
    messages: Parameters<Deps['llm']['stream']>[0]['messages'],
    passages: readonly FusedPassage[],
    characterName: string,
    userMessage: string,
    onDelta?: (text: string) => void,
  ): Promise<string> {
    const { llm, counter, config } = this.deps;
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
          maxTokens: config.chat.replyMaxTokens,
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

  stream(
    viewer: Viewer,
    input: { sessionId: string; content: string; clientMessageId?: string | null | undefined },
  ): AsyncGenerator<TurnStreamEvent> {
    return streamTurn((onDelta) => this.send(viewer, input, onDelta));
  }

  /** The hybrid retrieval alone, for readers and for debugging. */
  async search(
    bookId: string,
    query: string,
    limit: number | null | undefined,
  ): Promise<SearchPassage[]> {
    const { query: q, keep } = checkSearch(query, limit, this.deps.config.chat);
    const book = await this.loaders.book.load(bookId);
    if (!book) throw notFound('Book', bookId);
    if (book.processing_status !== 'completed') {
      throw new AppError(
        'FAILED_PRECONDITION',
        `The book "${book.title}" is ${book.processing_status}; it is not searchable yet`,
      );
    }
    const { passages } = await this.deps.chat.retriever.retrieve(book.id, searchQueries(q), {
      candidates: Math.max(this.deps.config.chat.candidates, keep),
      keep,
    });
    return passages.map((p) => ({
      chunkIndex: p.chunk.chunk_index,
      text: p.chunk.text,
      chapter: p.chunk.chapter,
      start: p.chunk.start,
      end: p.chunk.end,
      score: p.score,
      vectorRank: p.vectorRank,
      keywordRank: p.keywordRank,
    }));
  }
}

/** A turn's message as it is saved (trimmed), checked; BAD_USER_INPUT otherwise. */
export function checkTurnInput(
  input: { content: string; clientMessageId?: string | null | undefined },
  maxChars: number,
): { content: string; clientMessageId: string | null } {
  const content = input.content.trim();
  if (isBlank(content)) throw badInput('content must not be empty', 'content');
  // Characters as a reader counts them (code points, not UTF-16 units), of what is saved.
  if (codePoints(content) > maxChars) {
    throw badInput(`content must be at most ${maxChars} characters`, 'content');
  }
  const clientMessageId = input.clientMessageId ?? null;
  if (clientMessageId !== null && !isUuid(clientMessageId)) {
    throw badInput('clientMessageId must be a UUID', 'clientMessageId');
  }
  return { content, clientMessageId };
}

/** A search's query (trimmed) and how many passages to keep, checked; BAD_USER_INPUT otherwise. */
export function checkSearch(
  query: string,
  limit: number | null | undefined,
  chat: { messageMaxChars: number; keep: number },
): { query: string; keep: number } {
  const q = query.trim();
  if (isBlank(q)) throw badInput('query must not be empty', 'query');
  if (codePoints(q) > chat.messageMaxChars) throw badInput('query is too long', 'query');
  const keep = limit ?? chat.keep;
  if (!Number.isInteger(keep) || keep < 1 || keep > 50)
    throw badInput('limit must be between 1 and 50', 'limit');
  return { query: q, keep };
}

function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
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
function generatedBy(llm: Deps['llm']): GeneratedBy {
  return llm.kind === 'local' ? 'extractive' : 'language_model';
}

type TurnStreamEvent = { kind: 'delta'; text: string } | ({ kind: 'done' } & TurnResult);

/**
 * Runs a turn and yields its reply deltas, then the saved turn. The turn runs detached from the
 * consumer: if the client goes away mid-stream, it still completes and is saved.
 */
export async function* streamTurn(
  run: (onDelta: (t: string) => void) => Promise<TurnResult>,
): AsyncGenerator<TurnStreamEvent> {
  const pending: string[] = [];
  const state: {
    wake: (() => void) | null;
    settled: { ok: true; value: TurnResult } | { ok: false; error: unknown } | null;
  } = { wake: null, settled: null };
  run((t) => {
    pending.push(t);
    state.wake?.();
  }).then(
    (value) => {
      state.settled = { ok: true, value };
      state.wake?.();
    },
    (error: unknown) => {
      state.settled = { ok: false, error };
      state.wake?.();
    },
  );
  for (;;) {
    if (pending.length > 0) {
      yield { kind: 'delta', text: pending.splice(0, pending.length).join('') };
      continue;
    }
    const done = state.settled;
    if (done) {
      if (!done.ok) throw done.error;
      yield { kind: 'done', ...done.value };
      return;
    }
    await new Promise<void>((resolve) => {
      state.wake = resolve;
    });
    state.wake = null;
  }
}
