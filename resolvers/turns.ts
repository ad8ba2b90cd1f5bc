import type { SignedInContext } from '../src/context.js';
import { parseId } from '../src/errors.js';
import { messageCursor } from '../src/services/chat-session-service.js';
import type { TurnResult } from '../src/services/chat-turn-service.js';

interface SendMessageArgs {
  input: { sessionId: string; content: string; clientMessageId?: string | null };
}

type StreamEvent = { kind: 'delta'; text: string } | ({ kind: 'done' } & TurnResult);

const turnInput = (args: SendMessageArgs) => ({
  sessionId: parseId(args.input.sessionId, 'sessionId'),
  content: args.input.content,
  clientMessageId: args.input.clientMessageId ?? null,
});

export const sendMessage = (_root: unknown, args: SendMessageArgs, ctx: SignedInContext) =>
  ctx.services.turns.send(ctx.viewer, turnInput(args));

export const sendMessageStream = (_root: unknown, args: SendMessageArgs, ctx: SignedInContext) =>
  ctx.services.turns.stream(ctx.viewer, turnInput(args));

export const streamEvent = (event: StreamEvent) => event;

export const turnEdges = (turn: TurnResult) =>
  [turn.userMessage, turn.reply].map((node) => ({ cursor: messageCursor(node), node }));

export const searchBook = (
  _root: unknown,
  args: { bookId: string; query: string; limit?: number | null },
  ctx: SignedInContext,
) => ctx.services.turns.search(parseId(args.bookId, 'bookId'), args.query, args.limit);
