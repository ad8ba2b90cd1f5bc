import type { Context, SignedInContext } from '../src/context.js';
import { parseId } from '../src/errors.js';
import type { MessageRow } from '../src/models.js';

interface ForkArgs {
  input: { messageId: string; clientMessageId?: string | null };
}

export const regenerateReply = (_root: unknown, args: ForkArgs, ctx: SignedInContext) =>
  ctx.services.branches.regenerate(ctx.viewer, {
    messageId: parseId(args.input.messageId, 'messageId'),
    clientMessageId: args.input.clientMessageId ?? null,
  });

export const editMessage = (
  _root: unknown,
  args: { input: ForkArgs['input'] & { content: string } },
  ctx: SignedInContext,
) =>
  ctx.services.branches.edit(ctx.viewer, {
    messageId: parseId(args.input.messageId, 'messageId'),
    content: args.input.content,
    clientMessageId: args.input.clientMessageId ?? null,
  });

export const selectBranch = (
  _root: unknown,
  args: { input: { messageId: string } },
  ctx: SignedInContext,
) =>
  ctx.services.branches.select(ctx.viewer, {
    messageId: parseId(args.input.messageId, 'messageId'),
  });

export const messageVersions = (message: MessageRow, _args: unknown, ctx: Context) =>
  ctx.services.branches.versions(message);
