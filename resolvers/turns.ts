import type { Context, SignedInContext } from '../src/context.js';
import { messageCursor } from '../src/services/chat-session-service.js';
import type { TurnInput, TurnResult } from '../src/services/chat-turn-service.js';

type StreamEvent = { kind: 'delta'; text: string } | ({ kind: 'done' } & TurnResult);

/**
 * A turn saved just now (not replayed) is two new messages on the branch the session shows, with
 * no other versions yet: each is its own only version, so the request's versions loader learns
 * that here instead of reading it back for the payload.
 */
function primeNewTurn(ctx: Context, turn: TurnResult): TurnResult {
  if (!turn.replayed) {
    for (const m of [turn.userMessage, turn.reply]) ctx.loaders.versions.prime(m.id, [m]);
  }
  return turn;
}

export const sendMessage = async (
  _root: unknown,
  args: { input: TurnInput },
  ctx: SignedInContext,
) => primeNewTurn(ctx, await ctx.services.turns.send(ctx.viewer, args.input));

export const sendMessageStream = (
  _root: unknown,
  args: { input: TurnInput },
  ctx: SignedInContext,
) => ctx.services.turns.stream(ctx.viewer, args.input);

export const streamEvent = (event: StreamEvent, _args: unknown, ctx: Context) => {
  if (event.kind === 'done') primeNewTurn(ctx, event);
  return event;
};

export const turnEdges = (turn: TurnResult) =>
  [turn.userMessage, turn.reply].map((node) => ({ cursor: messageCursor(node), node }));
