import type { SignedInContext } from '../src/context.js';
import type { CreateBookInput, UploadedFile } from '../src/services/book-upload-service.js';

export const createBook = (
  _root: unknown,
  args: { input: CreateBookInput; file: UploadedFile },
  ctx: SignedInContext,
) => ctx.services.uploads.createBook(ctx.viewer, ctx.accessToken, args.input, args.file);
