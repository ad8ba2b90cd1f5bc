import * as r from '../resolvers/branches.js';
import type { CitationValue } from '../src/models.js';
import { builder } from './builder.js';
import { Node } from './node.js';
import { Message } from './refs.js';

export const MessageRole = builder.enumType('MessageRole', {
  values: {
    USER: { value: 'user' },
    ASSISTANT: { value: 'assistant' },
    SYSTEM: { value: 'system' },
  } as const,
});

const ReplyGeneration = builder.enumType('ReplyGeneration', {
  description: 'How a reply was written',
  values: {
    EXTRACTIVE: {
      value: 'extractive',
      description:
        "The offline fallback (no language model): the reply quotes the book's passages word for word",
    },
    LANGUAGE_MODEL: { value: 'language_model', description: 'A language model wrote the reply' },
  } as const,
});

export const Citation = builder.objectRef<CitationValue>('Citation').implement({
  description: 'A passage of the book that a reply was grounded in',
  fields: (t) => ({
    chunkIndex: t.exposeInt('chunk_index'),
    text: t.exposeString('text', {
      description:
        "The passage's full text (a few hundred words): ask for it where the passage is shown; a chat page without it is a fraction of the size",
    }),
    score: t.exposeFloat('score'),
    chapter: t.string({ nullable: true, resolve: (c) => c.chapter ?? null }),
  }),
});

Message.implement({
  interfaces: [Node],
  description: 'One message of a chat session',
  fields: (t) => ({
    id: t.exposeID('id'),
    role: t.field({ type: MessageRole, resolve: (m) => m.role }),
    content: t.exposeString('content'),
    createdAt: t.field({ type: 'DateTime', resolve: (m) => m.created_at }),
    clientMessageId: t.exposeID('client_message_id', { nullable: true }),
    citations: t.field({ type: [Citation], resolve: (m) => m.citations ?? [] }),
    versions: t.field({
      type: [Message],
      nullable: true,
      description:
        'Every version of this message at its place in the conversation, itself included, oldest first: the replies regenerated for one reader message, or the edits of one reader message. selectBranch shows the branch of any of them',
      resolve: r.messageVersions,
    }),
    generatedBy: t.field({
      type: ReplyGeneration,
      nullable: true,
      description:
        "How a reply was written; null for the reader's messages and for replies that cite no passage or were saved before this was recorded",
      resolve: (m) =>
        m.role === 'assistant'
          ? (m.citations?.find((c) => c.generated_by)?.generated_by ?? null)
          : null,
    }),
  }),
});
