import type { SignedInContext } from '../src/context.js';
import { parseId } from '../src/errors.js';
import type { ProgressEvent } from '../src/queue/progress.js';

export const processBook = (_root: unknown, args: { bookId: string }, ctx: SignedInContext) =>
  ctx.services.processing.processBook(ctx.viewer, parseId(args.bookId, 'bookId'));

export const bookProcessing = (_root: unknown, args: { bookId: string }, ctx: SignedInContext) =>
  ctx.services.processing.watch(parseId(args.bookId, 'bookId'), ctx.request.signal);

export const progressEvent = (event: ProgressEvent) => event;
