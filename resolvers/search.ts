import type { SignedInContext } from '../src/context.js';
import type { SearchArgs } from '../src/services/search-service.js';

export const searchBook = (_root: unknown, args: SearchArgs, ctx: SignedInContext) =>
  ctx.services.search.search(ctx.viewer, args);
