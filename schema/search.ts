import * as r from '../resolvers/search.js';
import type { SearchPassage } from '../src/services/search-service.js';
import { builder } from './builder.js';

const Passage = builder.objectRef<SearchPassage>('Passage').implement({
  description: 'A passage of a book found by hybrid retrieval',
  fields: (t) => ({
    chunkIndex: t.exposeInt('chunkIndex'),
    text: t.exposeString('text'),
    chapter: t.exposeString('chapter', { nullable: true }),
    start: t.exposeInt('start', {
      description: 'Character offset of the passage in the book text',
    }),
    end: t.exposeInt('end'),
    score: t.exposeFloat('score', {
      description:
        'Retrieval score, higher first: the reciprocal rank fusion score reranked by word overlap with the query, in [0, 1]',
    }),
    vectorRank: t.exposeInt('vectorRank', {
      nullable: true,
      description: 'Rank in the vector list, from 1',
    }),
    keywordRank: t.exposeInt('keywordRank', {
      nullable: true,
      description: 'Rank in the keyword list, from 1',
    }),
  }),
});

builder.queryFields((t) => ({
  searchBook: t.withAuth({ signedIn: true }).field({
    type: [Passage],
    description: "Hybrid retrieval over a completed book, with each retriever's rank",
    args: {
      bookId: t.arg.id({ required: true }),
      query: t.arg.string({ required: true }),
      limit: t.arg.int({ required: false }),
    },
    resolve: r.searchBook,
  }),
}));
