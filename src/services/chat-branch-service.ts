import type { Viewer } from '../auth.js';
import { SessionContextCache, sessionKey } from '../chat/session-context.js';
import { withSessionLock } from '../chat/session-lock.js';
import type { Deps } from '../deps.js';
import { AppError, badInput, isUuid, notFound } from '../errors.js';
import type { Loaders } from '../loaders.js';
import type { ChatSessionRow, MessageRow } from '../models.js';
import {
  type ChatTurnService,
  checkTurnInput,
  PREVIEW_LENGTH,
  type TurnResult,
} from './chat-turn-service.js';

/** A regenerate or an edit, as the service is asked for it. */
interface ForkInput {
  messageId: string;
  clientMessageId?: string | null | undefined;
}

/** A fork's idempotency key: null, or a UUID; BAD_USER_INPUT otherwise. */
export function checkClientMessageId(raw: string | null | undefined): string | null {
  const id = raw ?? null;
  if (id !== null && !isUuid(id))
    throw badInput('clientMessageId must be a UUID', 'clientMessageId');
  return id;
}

/**
 * Other versions of a conversation: a new reply to the same reader message (`regenerate`), an
 * edited reader message answered afresh (`edit`), and switching the branch a session shows
 * (`select`). Each runs under the session lock with a fencing number, like a chat turn, and saves
 * in one transaction (`save_chat_fork`, `select_chat_branch`): a fork starts a branch just before
 * the message it replaces, so what came after stays on the branch it was on. A retry with a
 * saved clientMessageId returns what was saved without calling the model. Another reader's
 * message behaves exactly like one that does not exist (NOT_FOUND, nothing changed).
 */
export class ChatBranchService {
  constructor(
    private readonly deps: Deps,
    private readonly loaders: Loaders,
    private readonly turns: ChatTurnService,
  ) {}

  /** A new reply to the reader message that `messageId` (a reply) answers; the old one stays. */
  regenerate(viewer: Viewer, input: ForkInput): Promise<TurnResult> {
    return this.fork(viewer, 'regenerate', input, null);
  }

  /** The reader message `messageId` with new content and a new reply, on a branch of its own. */
  edit(viewer: Viewer, input: ForkInput & { content: string }): Promise<TurnResult> {
    const { content } = checkTurnInput(
      { content: input.content },
      this.deps.config.chat.messageMaxChars,
    );
    return this.fork(viewer, 'edit', input, content);
  }

  /** Every version of a message (itself included), oldest first. */
  versions(message: MessageRow): Promise<MessageRow[]> {
    return this.deps.chatStore.versionsOf(message);
  }

  /** Shows the branch that holds `messageId` (a version of a message); the session after. */
  async select(viewer: Viewer, input: { messageId: string }): Promise<ChatSessionRow> {
    const { message, session } = await this.ownMessage(viewer, input.messageId);
    const { chat, redis, counter } = this.deps;
    const row = await this.withLock(session.id, async () => {
      const fence = await chat.turns.takeFence(session.id);
      const updated = await chat.turns.selectBranch({
        sessionId: session.id,
        userId: viewer.id,
        fence,
        messageId: message.id,
        previewLength: PREVIEW_LENGTH,
      });
      // The cached context was the other branch's: the next turn rebuilds it from this one.
      await counter.time('redis', 'del', () => redis.del(sessionKey(session.id)));
      return updated;
    });
    this.loaders.session.clear(row.id).prime(row.id, row);
    return row;
  }

  private async fork(
    viewer: Viewer,
    kind: 'regenerate' | 'edit',
    input: ForkInput,
    newContent: string | null,
  ): Promise<TurnResult> {
    const clientMessageId = checkClientMessageId(input.clientMessageId);
    const { message, session } = await this.ownMessage(viewer, input.messageId);
    const wanted = kind === 'regenerate' ? 'assistant' : 'user';
    if (message.role !== wanted) {
      throw badInput(
        kind === 'regenerate'
          ? 'messageId must be a reply of the character'
          : "messageId must be one of the reader's messages",
        'messageId',
      );
    }
    const loads = Promise.all([
      this.loaders.character.load(session.character_id),
      this.loaders.book.load(session.book_id),
    ]);
    loads.catch(() => {}); // awaited below; this only keeps an early SESSION_BUSY from leaving it unhandled
    const { chat, chatStore } = this.deps;
    return this.withLock(session.id, async (lock) => {
      const [character, book] = await loads;
      if (!character || !book) throw notFound('Message', input.messageId);
      if (book.processing_status !== 'completed') {
        throw new AppError(
          'FAILED_PRECONDITION',
          `The book "${book.title}" is ${book.processing_status}; chats open once it is completed`,
        );
      }
      const fence = await chat.turns.takeFence(session.id);
      if (clientMessageId) {
        const saved = await chat.turns.findTurn(session.id, clientMessageId);
        if (saved?.reply) {
          const [fresh] = await chatStore.sessionsByIds([session.id]);
          return {
            userMessage: saved.user,
            reply: saved.reply,
            session: fresh ?? session,
            replayed: true,
          };
        }
      }
      const [current = session] = await chatStore.sessionsByIds([session.id]);
      const question = kind === 'edit' ? message : await chat.turns.questionOf(message);
      if (!question) throw badInput('this reply answers no reader message', 'messageId');
      // The conversation as it stood before the reader's message, on the branch forked from.
      const context = await chat.context.rebuild(session.id, {
        branchId: message.branch_id,
        maxChunkIndex: current.reading_max_chunk_index,
        before: question.created_at,
      });
      const answer = await this.turns.answer({
        session: current,
        character,
        book,
        context,
        content: newContent ?? question.content,
      });
      await lock.assertHeld();
      const turn = await chat.turns.saveFork({
        sessionId: session.id,
        userId: viewer.id,
        fence,
        kind,
        targetId: message.id,
        userContent: newContent,
        replyContent: answer.text,
        citations: answer.citations,
        clientMessageId,
        previewLength: PREVIEW_LENGTH,
      });
      if (!turn.reply) throw new Error('save_chat_fork returned no reply');
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
    });
  }

  /** The viewer's message with its session; NOT_FOUND for a missing one and for anyone else's. */
  private async ownMessage(
    viewer: Viewer,
    messageId: string,
  ): Promise<{ message: MessageRow; session: ChatSessionRow }> {
    const [message] = await this.deps.chatStore.messagesByIds([messageId]);
    const session = message ? await this.loaders.session.load(message.session_id) : null;
    if (!message || !session || session.user_id !== viewer.id) throw notFound('Message', messageId);
    return { message, session };
  }

  private withLock<T>(sessionId: string, fn: Parameters<typeof withSessionLock<T>>[4]): Promise<T> {
    const { redis, counter, config, locks } = this.deps;
    return withSessionLock(
      redis,
      counter,
      sessionId,
      { ttlMs: config.chat.lockTtlMs, waitMs: config.chat.lockWaitMs, registry: locks },
      fn,
    );
  }
}
