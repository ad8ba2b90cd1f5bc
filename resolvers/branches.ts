import type { Context, SignedInContext } from '../src/context.js';
import type { MessageRow } from '../src/models.js';
import type { ForkInput } from '../src/services/chat-branch-service.js';

export const regenerateReply = (_root: unknown, args: { input: ForkInput }, ctx: SignedInContext) =>
  ctx.services.branches.regenerate(ctx.viewer, args.input);

export const editMessage = (
  _root: unknown,
  args: { input: ForkInput & { content: string } },
  ctx: SignedInContext,
) => ctx.services.branches.edit(ctx.viewer, args.input);

export const selectBranch = (
  _root: unknown,
  args: { input: { messageId: string } },
  ctx: SignedInContext,
) => ctx.services.branches.select(ctx.viewer, args.input);

export const messageVersions = (message: MessageRow, _args: unknown, ctx: Context) =>
  ctx.services.branches.versions(message);
