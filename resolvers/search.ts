import type { SignedInContext } from '../src/context.js';

export const searchBook = (
  _root: unknown,
  args: { bookId: string; query: string; limit?: number | null },
  ctx: SignedInContext,
) => ctx.services.search.search(args);
