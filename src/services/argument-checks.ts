import { checkPositionShape } from '../chat/reading-position.js';
import type { Config } from '../config.js';
import { parseId } from '../errors.js';
import { checkBookInput } from './book-upload-service.js';
import { checkClientMessageId } from './chat-branch-service.js';
import { checkNewTitle, checkSessionTitle } from './chat-session-service.js';
import { checkSearch, checkTurnInput } from './chat-turn-service.js';
import { checkNodeIds } from './node-service.js';
import { forwardPage, type PageArgs, twoWayPage } from './pagination.js';

type Args = Record<string, unknown>;
type PositionArg = { chapter?: number | null; percent?: number | null } | null;
export type ArgumentCheck = (args: Args) => void;

/**
 * Every check of a field's arguments that needs nothing but the arguments (id formats, page sizes
 * and cursors, lengths), by schema coordinate. They are the very functions the resolvers and
 * services call, gathered so that a whole operation can be checked before it runs
 * (src/security/argument-guard.ts). Each throws BAD_USER_INPUT. A field with arguments must be here
 * (test/no-write-behind-error.test.ts checks the schema against this list).
 */
export function argumentChecks(config: Config): Record<string, ArgumentCheck> {
  const pages = config.pageSize;
  const id =
    (field: string): ArgumentCheck =>
    (a) => {
      parseId(a[field] as string, field);
    };
  const turn: ArgumentCheck = (a) => {
    const input = a.input as { sessionId: string; content: string; clientMessageId?: string };
    parseId(input.sessionId, 'sessionId');
    checkTurnInput(input, config.chat.messageMaxChars);
  };
  return {
    'Query.book': id('id'),
    'Query.books': (a) => {
      forwardPage(a as PageArgs, pages, 'timestamp');
      if (a.categoryId) parseId(a.categoryId as string, 'categoryId');
    },
    'Query.character': id('id'),
    'Query.node': id('id'),
    'Query.nodes': (a) => {
      checkNodeIds(a.ids as string[], pages.max);
    },
    'Query.chatSession': id('id'),
    'Query.chatSessions': (a) => {
      forwardPage(a as PageArgs, pages, 'timestamp');
    },
    'Query.searchBook': (a) => {
      parseId(a.bookId as string, 'bookId');
      checkSearch(a.query as string, a.limit as number | null | undefined, config.chat);
    },
    'Book.characterConnection': (a) => {
      forwardPage(a as PageArgs, pages, 'text');
    },
    'ChatSession.messages': (a) => {
      twoWayPage(a as PageArgs, pages);
    },
    'Mutation.createChatSession': (a) => {
      const input = a.input as {
        characterId: string;
        title?: string | null;
        readingPosition?: PositionArg;
      };
      parseId(input.characterId, 'characterId');
      checkSessionTitle(input.title);
      if (input.readingPosition) checkPositionShape(input.readingPosition);
    },
    'Mutation.createBook': (a) => {
      checkBookInput(
        a.input as { title: string; author?: string | null; categoryId?: string | null },
      );
    },
    'Mutation.deleteChatSession': (a) => {
      parseId((a.input as { sessionId: string }).sessionId, 'sessionId');
    },
    'Mutation.processBook': id('bookId'),
    'Mutation.renameChatSession': (a) => {
      const input = a.input as { sessionId: string; title: string };
      parseId(input.sessionId, 'sessionId');
      checkNewTitle(input.title);
    },
    'Mutation.sendMessage': turn,
    'Mutation.regenerateReply': (a) => {
      const input = a.input as { messageId: string; clientMessageId?: string | null };
      parseId(input.messageId, 'messageId');
      checkClientMessageId(input.clientMessageId);
    },
    'Mutation.editMessage': (a) => {
      const input = a.input as { messageId: string; content: string; clientMessageId?: string };
      parseId(input.messageId, 'messageId');
      checkTurnInput(input, config.chat.messageMaxChars);
    },
    'Mutation.selectBranch': (a) => {
      parseId((a.input as { messageId: string }).messageId, 'messageId');
    },
    'Mutation.setReadingPosition': (a) => {
      const input = a.input as { sessionId: string; readingPosition?: PositionArg };
      parseId(input.sessionId, 'sessionId');
      if (input.readingPosition) checkPositionShape(input.readingPosition);
    },
    'Subscription.bookProcessing': id('bookId'),
    'Subscription.sendMessageStream': turn,
  };
}
