import type { Viewer } from '../auth.js';
import { withBoundNow } from '../chat/reading-position.js';
import type { SessionContextCache } from '../chat/session-context.js';
import type { SessionLocks } from '../chat/session-lock.js';
import type { Config } from '../config.js';
import { badInput, notFound, parseId } from '../errors.js';
import type { Loaders } from '../loaders.js';
import type { ChatSessionRow, MessageRow } from '../models.js';
import type { ChatStore, ChatTurnStore } from '../stores/chat-store.js';
import type { ChunkOutline } from '../stores/chunks.js';
import { requireCompletedBook } from './chat-access.js';
import {
  afterSave,
  type ChatTurnService,
  PREVIEW_LENGTH,
  parseClientMessageId,
  parseMessageContent,
  type TurnResult,
} from './chat-turn-service.js';

/** A regenerate or an edit, as it arrives. */
export interface ForkInput {
  messageId: string;
  clientMessageId?: string | null | undefined;
}

/** A fork's message id and client message id, checked; BAD_USER_INPUT otherwise. */
export function parseForkInput(input: ForkInput): {
  messageId: string;
  clientMessageId: string | null;
} {
  return {
    messageId: parseId(input.messageId, 'messageId'),
    clientMessageId: parseClientMessageId(input.clientMessageId),
  };
}

/** An edit's message id, new content and client message id, checked; BAD_USER_INPUT otherwise. */
export function parseEditInput(
  input: ForkInput & { content: string },
  maxChars: number,
): { messageId: string; clientMessageId: string | null; content: string } {
  return { ...parseForkInput(input), content: parseMessageContent(input.content, maxChars) };
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
    private readonly deps: {
      settings: Config['chat'];
      chatStore: ChatStore;
      turns: ChatTurnStore;
      context: SessionContextCache;
      locks: SessionLocks;
      /** Writes the replies (the chat turn's own steps). */
      answerer: Pick<ChatTurnService, 'answer'>;
      /** The book's chunks as indexed now, for the reading position's bound. */
      outline: (bookId: string) => Promise<ChunkOutline[]>;
    },
    private readonly loaders: Pick<Loaders, 'session' | 'character' | 'book' | 'versions'>,
  ) {}

  /** A new reply to the reader message that `messageId` (a reply) answers; the old one stays. */
  regenerate(viewer: Viewer, input: ForkInput): Promise<TurnResult> {
    const { messageId, clientMessageId } = parseForkInput(input);
    return this.fork(viewer, 'regenerate', messageId, clientMessageId, null);
  }

  /** The reader message `messageId` with new content and a new reply, on a branch of its own. */
  edit(viewer: Viewer, input: ForkInput & { content: string }): Promise<TurnResult> {
    const { messageId, clientMessageId, content } = parseEditInput(
      input,
      this.deps.settings.messageMaxChars,
    );
    return this.fork(viewer, 'edit', messageId, clientMessageId, content);
  }

  /** Every version of a message (itself included), oldest first. */
  versions(message: MessageRow): Promise<MessageRow[]> {
    return this.loaders.versions.load(message.alternative_of ?? message.id);
  }

  /** Shows the branch that holds `messageId` (a version of a message); the session after. */
  async select(viewer: Viewer, input: { messageId: string }): Promise<ChatSessionRow> {
    const { message, session } = await this.ownMessage(
      viewer,
      parseId(input.messageId, 'messageId'),
    );
    const { turns, context, locks } = this.deps;
    const row = await locks.withLock(session.id, async () => {
      const { fence } = await turns.beginTurn(session.id, null);
      const updated = await turns.selectBranch({
        sessionId: session.id,
        userId: viewer.id,
        fence,
        messageId: message.id,
        previewLength: PREVIEW_LENGTH,
      });
      // The cached context was the other branch's: the next turn rebuilds it from this one.
      await context.drop(session.id, { required: true });
      return updated;
    });
    this.loaders.session.clear(row.id).prime(row.id, row);
    return row;
  }

  private async fork(
    viewer: Viewer,
    kind: 'regenerate' | 'edit',
    messageId: string,
    clientMessageId: string | null,
    newContent: string | null,
  ): Promise<TurnResult> {
    const { message, session } = await this.ownMessage(viewer, messageId);
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
    ]).then(([character, book]) => {
      if (!character || !book) throw notFound('Message', messageId);
      requireCompletedBook(book, 'chat');
      return { character, book };
    });
    loads.catch(() => {}); // awaited under the lock; this only keeps an early SESSION_BUSY from leaving it unhandled
    const { turns, context: contexts, locks } = this.deps;
    return locks.withLock(session.id, async (lock) => {
      const { character, book } = await loads;
      // The fence and the replay look-up in one call, as a turn begins (see ChatTurnService).
      const begun = await turns.beginTurn(session.id, clientMessageId);
      if (begun.saved?.reply) {
        return {
          userMessage: begun.saved.user,
          reply: begun.saved.reply,
          session: begun.saved.session,
          replayed: true,
        };
      }
      const { fence } = begun;
      const current = await withBoundNow(begun.session ?? session, this.deps.outline);
      const question = kind === 'edit' ? message : await turns.questionOf(message);
      if (!question) throw badInput('this reply answers no reader message', 'messageId');
      // The conversation as it stood before the reader's message, on the branch forked from.
      const context = await contexts.rebuild(session.id, {
        branchId: message.branch_id,
        maxChunkIndex: current.reading_max_chunk_index,
        before: question.created_at,
      });
      const answer = await this.deps.answerer.answer(
        { character, book, session: current },
        context,
        newContent ?? question.content,
        undefined,
      );
      await lock.assertHeld();
      const turn = await turns.saveFork({
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
      return afterSave(turn, 'save_chat_fork', context, contexts, this.loaders);
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
}
