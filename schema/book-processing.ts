import * as r from '../resolvers/processing.js';
import type { ProgressEvent } from '../src/queue/progress.js';
import { ProcessingStatus } from './book.js';
import { builder } from './builder.js';
import { Book } from './refs.js';

const ProcessingStage = builder.enumType('ProcessingStage', {
  values: {
    QUEUED: { value: 'queued' },
    READING: { value: 'reading' },
    CHUNKING: { value: 'chunking' },
    INDEXING: { value: 'indexing' },
    CHARACTERS: { value: 'characters' },
    COMPLETED: { value: 'completed' },
    FAILED: { value: 'failed' },
  } as const,
});

const BookProcessingEvent = builder.objectRef<ProgressEvent>('BookProcessingEvent').implement({
  description: "A step of a book's ingestion",
  fields: (t) => ({
    bookId: t.exposeID('bookId'),
    jobId: t.exposeID('jobId', { nullable: true }),
    stage: t.field({ type: ProcessingStage, resolve: (e) => e.stage }),
    progress: t.exposeFloat('progress', { description: 'Share done, from 0 to 1' }),
    status: t.field({ type: ProcessingStatus, resolve: (e) => e.status }),
    message: t.exposeString('message', { nullable: true, description: 'Why it failed' }),
  }),
});

builder.mutationFields((t) => ({
  processBook: t.withAuth({ signedIn: true }).field({
    type: Book,
    nullable: true,
    description:
      "Queues the book's ingestion (its owner only) and returns the book. A book with no run under way gets a new one and is PENDING; one with a run queued or running keeps that run (re-queued if the queue lost it). Watch it with bookProcessing",
    args: { bookId: t.arg.id({ required: true }) },
    resolve: r.processBook,
  }),
}));

builder.subscriptionFields((t) => ({
  bookProcessing: t.withAuth({ signedIn: true }).field({
    type: BookProcessingEvent,
    description: "A book's ingestion progress (over SSE), from its current status to the end",
    args: { bookId: t.arg.id({ required: true }) },
    subscribe: r.bookProcessing,
    resolve: r.progressEvent,
  }),
}));
