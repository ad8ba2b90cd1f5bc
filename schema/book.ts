import * as r from '../resolvers/catalog.js';
import { builder } from './builder.js';
import { Node } from './node.js';
import { Book, Category, Character } from './refs.js';

export const ProcessingStatus = builder.enumType('ProcessingStatus', {
  description: 'Where a book is in ingestion; only COMPLETED books can be chatted with',
  values: {
    PENDING: { value: 'pending' },
    PROCESSING: { value: 'processing' },
    COMPLETED: { value: 'completed' },
    FAILED: { value: 'failed' },
  } as const,
});

const Chapter = builder
  .objectRef<{ number: number; title: string; firstChunkIndex: number; lastChunkIndex: number }>(
    'Chapter',
  )
  .implement({
    description: "A section of a book as its headings divide it (a reading position's unit)",
    fields: (t) => ({
      number: t.exposeInt('number', { description: 'From 1, in book order' }),
      title: t.exposeString('title'),
      firstChunkIndex: t.exposeInt('firstChunkIndex'),
      lastChunkIndex: t.exposeInt('lastChunkIndex'),
    }),
  });

Book.implement({
  interfaces: [Node],
  description: 'An uploaded book',
  fields: (t) => ({
    id: t.exposeID('id'),
    title: t.exposeString('title'),
    author: t.exposeString('author', { nullable: true }),
    description: t.exposeString('description', { nullable: true }),
    coverUrl: t.exposeString('cover_url', { nullable: true }),
    category: t.field({ type: Category, nullable: true, resolve: (b) => b.category }),
    processingStatus: t.field({ type: ProcessingStatus, resolve: (b) => b.processing_status }),
    createdAt: t.field({ type: 'DateTime', resolve: (b) => b.created_at }),
    updatedAt: t.field({ type: 'DateTime', resolve: (b) => b.updated_at }),
    characters: t.field({
      type: [Character],
      nullable: true,
      description: 'All characters found in the book, by name',
      resolve: r.bookCharacters,
    }),
    chapters: t.field({
      type: [Chapter],
      nullable: true,
      description:
        'The chapters in book order, as ReadingPositionInput.chapter counts them; empty until the book is completed',
      resolve: r.bookChapters,
    }),
    characterConnection: t.connection(
      {
        type: Character,
        nullable: true,
        description: 'The characters page by page, by name',
        resolve: r.bookCharacterConnection,
      },
      { name: 'CharacterConnection' },
      { name: 'CharacterEdge' },
    ),
  }),
});

builder.queryFields((t) => ({
  book: t.withAuth({ signedIn: true }).field({
    type: Book,
    nullable: true,
    description: 'One book of the catalog; an unknown id is NOT_FOUND',
    args: { id: t.arg.id({ required: true }) },
    resolve: r.book,
  }),
  books: t.withAuth({ signedIn: true }).connection(
    {
      type: Book,
      description: 'The catalog, newest first',
      args: {
        categoryId: t.arg.id(),
        status: t.arg({ type: ProcessingStatus }),
      },
      resolve: r.books,
    },
    { name: 'BookConnection' },
    { name: 'BookEdge' },
  ),
}));
