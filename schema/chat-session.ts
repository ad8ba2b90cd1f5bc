import * as r from '../resolvers/chat.js';
import type { ChatSessionRow } from '../src/stores/rows.js';
import { Book } from './book.js';
import { builder } from './builder.js';
import { Character } from './character.js';
import { Message } from './message.js';

export const ChatSession = builder.objectRef<ChatSessionRow>('ChatSession').implement({
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
      { name: 'MessageConnection' },
      { name: 'MessageEdge' },
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
    { name: 'ChatSessionConnection' },
    { name: 'ChatSessionEdge' },
  ),
}));

builder.mutationFields((t) => ({
  createChatSession: t.withAuth({ signedIn: true }).field({
    type: ChatSession,
    nullable: true,
    description: 'Opens a chat with a character of a completed book',
    args: { input: t.arg({ type: CreateChatSessionInput, required: true }) },
    resolve: r.createChatSession,
  }),
}));
