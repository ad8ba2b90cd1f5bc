import type { SignedInContext } from '../src/context.js';
import type { ProgressEvent } from '../src/queue/progress.js';

export const processBook = (_root: unknown, args: { bookId: string }, ctx: SignedInContext) =>
  ctx.services.processing.processBook(ctx.viewer, args.bookId);

export const bookProcessing = (_root: unknown, args: { bookId: string }, ctx: SignedInContext) =>
  ctx.services.processing.watch(args.bookId, ctx.request.signal);

export const progressEvent = (event: ProgressEvent) => event;
