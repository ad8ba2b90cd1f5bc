import type { SignedInContext } from '../src/context.js';
import { messageCursor } from '../src/services/chat-session-service.js';
import type { TurnInput, TurnResult } from '../src/services/chat-turn-service.js';

type StreamEvent = { kind: 'delta'; text: string } | ({ kind: 'done' } & TurnResult);

export const sendMessage = (_root: unknown, args: { input: TurnInput }, ctx: SignedInContext) =>
  ctx.services.turns.send(ctx.viewer, args.input);

export const sendMessageStream = (
  _root: unknown,
  args: { input: TurnInput },
  ctx: SignedInContext,
) => ctx.services.turns.stream(ctx.viewer, args.input);

export const streamEvent = (event: StreamEvent) => event;

export const turnEdges = (turn: TurnResult) =>
  [turn.userMessage, turn.reply].map((node) => ({ cursor: messageCursor(node), node }));
