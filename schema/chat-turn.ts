import * as r from '../resolvers/turns.js';
import type { TurnResult } from '../src/services/chat-turn-service.js';
import { builder } from './builder.js';
import { ChatSession, Message, MessageEdge } from './refs.js';

const SendMessageInput = builder.inputType('SendMessageInput', {
  fields: (t) => ({
    sessionId: t.id({ required: true }),
    content: t.string({
      required: true,
      description: "The reader's message (at most 4,000 characters by default)",
    }),
    clientMessageId: t.id({
      required: false,
      description:
        'Must be a UUID (anything else is BAD_USER_INPUT), made by the client once per message: a retry with the same one returns the saved turn',
    }),
  }),
});

export const SendMessagePayload = builder.objectRef<TurnResult>('SendMessagePayload').implement({
  description:
    "The saved turn: the reader's message, the character's reply and the updated session",
  fields: (t) => ({
    userMessage: t.field({ type: Message, resolve: (p) => p.userMessage }),
    reply: t.field({ type: Message, resolve: (p) => p.reply }),
    session: t.field({ type: ChatSession, resolve: (p) => p.session }),
    messageEdges: t.field({
      type: [MessageEdge],
      description:
        "The reader's message and the reply as edges of the session's messages connection (oldest first, with their cursors), to append to a cached connection without a refetch",
      resolve: r.turnEdges,
    }),
    replayed: t.exposeBoolean('replayed', {
      description: 'True when this clientMessageId was saved before and nothing new was generated',
    }),
  }),
});

const MessageDelta = builder.objectRef<{ kind: 'delta'; text: string }>('MessageDelta').implement({
  description: 'A piece of the reply as the model writes it',
  fields: (t) => ({ delta: t.exposeString('text') }),
});

const TurnCompleted = builder.objectRef<{ kind: 'done' } & TurnResult>('TurnCompleted').implement({
  description: 'The end of a streamed turn: what was saved',
  fields: (t) => ({ payload: t.field({ type: SendMessagePayload, resolve: (p) => p }) }),
});

const ChatStreamEvent = builder.unionType('ChatStreamEvent', {
  types: [MessageDelta, TurnCompleted],
  resolveType: (e) => (e.kind === 'delta' ? MessageDelta : TurnCompleted),
});

builder.mutationFields((t) => ({
  sendMessage: t.withAuth({ signedIn: true }).field({
    type: SendMessagePayload,
    nullable: true,
    description: 'Sends a message to the character of a session and returns the saved turn',
    args: { input: t.arg({ type: SendMessageInput, required: true }) },
    resolve: r.sendMessage,
  }),
}));

builder.subscriptionFields((t) => ({
  sendMessageStream: t.withAuth({ signedIn: true }).field({
    type: ChatStreamEvent,
    description:
      'The same turn as sendMessage, streamed over SSE: reply deltas, then the saved turn',
    args: { input: t.arg({ type: SendMessageInput, required: true }) },
    subscribe: r.sendMessageStream,
    resolve: r.streamEvent,
  }),
}));
