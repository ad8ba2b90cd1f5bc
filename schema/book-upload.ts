import * as r from '../resolvers/uploads.js';
import { AppError } from '../src/errors.js';
import type { UploadedFile } from '../src/services/book-upload-service.js';
import { builder } from './builder.js';
import { Book } from './refs.js';

const isFile = (value: unknown): value is UploadedFile =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as UploadedFile).arrayBuffer === 'function' &&
  typeof (value as UploadedFile).size === 'number';

const FileScalar = builder.scalarType('File', {
  description:
    'A file sent as a part of a GraphQL multipart request (https://github.com/jaydenseric/graphql-multipart-request-spec); input only',
  serialize: () => {
    throw new Error('File is an input type only');
  },
  parseValue: (value) => {
    if (!isFile(value)) {
      throw new AppError('BAD_USER_INPUT', 'File must be a file part of a multipart request');
    }
    return value;
  },
});

const CreateBookInput = builder.inputType('CreateBookInput', {
  fields: (t) => ({
    title: t.string({ required: true, description: '1 to 500 characters' }),
    author: t.string({ required: false }),
    categoryId: t.id({ required: false }),
  }),
});

builder.mutationFields((t) => ({
  createBook: t.withAuth({ signedIn: true }).field({
    type: Book,
    nullable: true,
    description:
      "Adds the viewer's own book (send it as a GraphQL multipart request): the file, plain text or Markdown (UTF-8), EPUB or PDF by its content, up to UPLOAD_MAX_BYTES, goes to the books bucket under the viewer's prefix, the book is created PENDING and its ingestion queued; watch it with bookProcessing",
    args: {
      input: t.arg({ type: CreateBookInput, required: true }),
      file: t.arg({ type: FileScalar, required: true }),
    },
    resolve: r.createBook,
  }),
}));
