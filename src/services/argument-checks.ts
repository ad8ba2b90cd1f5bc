import type { Config } from '../config.js';
import { parseId } from '../errors.js';
import { checkBookInput } from './book-upload-service.js';
import { type ForkInput, parseEditInput, parseForkInput } from './chat-branch-service.js';
import { parseNewSession, parseRename, parseSetReadingPosition } from './chat-session-service.js';
import { parseTurnInput, type TurnInput } from './chat-turn-service.js';
import { checkNodeIds } from './node-service.js';
import { forwardPage, type PageArgs, twoWayPage } from './pagination.js';
import { parseSearch } from './search-service.js';

type Args = Record<string, unknown>;
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
    parseTurnInput(a.input as TurnInput, config.chat.messageMaxChars);
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
      parseSearch(a as unknown as Parameters<typeof parseSearch>[0], config.chat);
    },
    'Book.characterConnection': (a) => {
      forwardPage(a as PageArgs, pages, 'text');
    },
    'ChatSession.messages': (a) => {
      twoWayPage(a as PageArgs, pages);
    },
    'Mutation.createChatSession': (a) => {
      parseNewSession(a.input as Parameters<typeof parseNewSession>[0]);
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
      parseRename(a.input as Parameters<typeof parseRename>[0]);
    },
    'Mutation.sendMessage': turn,
    'Mutation.setReadingPosition': (a) => {
      parseSetReadingPosition(a.input as Parameters<typeof parseSetReadingPosition>[0]);
    },
    'Mutation.regenerateReply': (a) => {
      parseForkInput(a.input as ForkInput);
    },
    'Mutation.editMessage': (a) => {
      parseEditInput(a.input as ForkInput & { content: string }, config.chat.messageMaxChars);
    },
    'Mutation.selectBranch': (a) => {
      parseId((a.input as { messageId: string }).messageId, 'messageId');
    },
    'Subscription.bookProcessing': id('bookId'),
    'Subscription.sendMessageStream': turn,
  };
}
