import * as r from '../resolvers/chat.js';
import { builder } from './builder.js';
import { Node } from './node.js';
import { Book, Character, ChatSession, Message, MessageEdge } from './refs.js';

const TOTAL_COUNT = 'How many items the whole list has, all pages together';

function totalCount(connection: object): number {
  const total = (connection as { totalCount?: number | null }).totalCount;
  if (typeof total !== 'number') throw new Error('the list was read without its total');
  return total;
}

ChatSession.implement({
  interfaces: [Node],
  description: "A reader's conversation with one character (visible to its owner only)",
  fields: (t) => ({
    id: t.exposeID('id'),
    title: t.exposeString('title', { nullable: true }),
    character: t.field({ type: Character, resolve: r.sessionCharacter }),
    book: t.field({ type: Book, resolve: r.sessionBook }),
    messageCount: t.exposeInt('message_count'),
    preview: t.exposeString('preview', { nullable: true }),
    createdAt: t.field({ type: 'DateTime', resolve: (s) => s.created_at }),
    updatedAt: t.field({ type: 'DateTime', nullable: true, resolve: (s) => s.updated_at }),
    messages: t.connection(
      {
        type: Message,
        nullable: true,
        description: 'In time order: first/after from the oldest, last/before from the newest',
        resolve: r.sessionMessages,
      },
      {
        name: 'MessageConnection',
        fields: (t) => ({ totalCount: t.int({ description: TOTAL_COUNT, resolve: totalCount }) }),
      },
      MessageEdge,
    ),
  }),
});

const CreateChatSessionInput = builder.inputType('CreateChatSessionInput', {
  fields: (t) => ({
    characterId: t.id({ required: true }),
    title: t.string({ required: false }),
  }),
});

builder.queryFields((t) => ({
  chatSession: t.withAuth({ signedIn: true }).field({
    type: ChatSession,
    nullable: true,
    description: "One of the viewer's sessions; anyone else's is NOT_FOUND",
    args: { id: t.arg.id({ required: true }) },
    resolve: r.chatSession,
  }),
  chatSessions: t.withAuth({ signedIn: true }).connection(
    {
      type: ChatSession,
      description: "The viewer's sessions, most recently active first",
      resolve: r.chatSessions,
    },
    {
      name: 'ChatSessionConnection',
      fields: (t) => ({ totalCount: t.int({ description: TOTAL_COUNT, resolve: totalCount }) }),
    },
    { name: 'ChatSessionEdge' },
  ),
}));

const RenameChatSessionInput = builder.inputType('RenameChatSessionInput', {
  fields: (t) => ({
    sessionId: t.id({ required: true }),
    title: t.string({ required: true }),
  }),
});

const DeleteChatSessionInput = builder.inputType('DeleteChatSessionInput', {
  fields: (t) => ({
    sessionId: t.id({ required: true }),
  }),
});

const DeleteChatSessionPayload = builder
  .objectRef<{ deletedSessionId: string }>('DeleteChatSessionPayload')
  .implement({
    fields: (t) => ({
      deletedSessionId: t.exposeID('deletedSessionId'),
    }),
  });

builder.mutationFields((t) => ({
  renameChatSession: t.withAuth({ signedIn: true }).field({
    type: ChatSession,
    nullable: true,
    description:
      "Sets the title of one of the viewer's sessions (trimmed, at most 200 characters, something visible); anyone else's is NOT_FOUND",
    args: { input: t.arg({ type: RenameChatSessionInput, required: true }) },
    resolve: r.renameChatSession,
  }),
  deleteChatSession: t.withAuth({ signedIn: true }).field({
    type: DeleteChatSessionPayload,
    nullable: true,
    description:
      "Deletes one of the viewer's sessions with its messages. Anyone else's, a missing one and one already deleted are NOT_FOUND (a repeat changes nothing); SESSION_BUSY while a message of it is being answered",
    args: { input: t.arg({ type: DeleteChatSessionInput, required: true }) },
    resolve: r.deleteChatSession,
  }),
  createChatSession: t.withAuth({ signedIn: true }).field({
    type: ChatSession,
    nullable: true,
    description: 'Opens a chat with a character of a completed book',
    args: { input: t.arg({ type: CreateChatSessionInput, required: true }) },
    resolve: r.createChatSession,
  }),
}));
