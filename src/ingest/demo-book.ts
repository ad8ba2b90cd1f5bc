import { readFile } from 'node:fs/promises';

/**
 * The demo book: an original story written for this project (free to copy), in Markdown with
 * `# Chapter` headings and clearly attributed dialogue, so ingestion and the offline character
 * finder have something real to work on without any upload.
 */
export const DEMO_BOOK = {
  title: 'The Lamp at Salt Hollow',
  author: 'The Falsafa project',
  fileName: 'demo-book.md',
  contentType: 'text/markdown',
  url: new URL('./demo-book.md', import.meta.url),
} as const;

/** The demo book's bytes, as an upload would bring them. */
export async function loadDemoBook(): Promise<Uint8Array> {
  return new Uint8Array(await readFile(DEMO_BOOK.url));
}

/**
 * Questions a reader might ask about the demo book, each with the sentence of the book that
 * answers it: the examples of the README, and what the chat turn's citations must contain.
 */
export const DEMO_QUESTIONS: readonly { question: string; answer: string }[] = [
  {
    question: 'What happened in the storm?',
    answer: 'It came the way Tomas had said it would, out of the north-east',
  },
  {
    question: 'Who first reported the sandbank?',
    answer: 'First reported by Aldo Brenn, keeper, forty years before this survey.',
  },
  {
    question: 'Why did the Harbour Board ignore the warning?',
    answer: 'The Board cannot alter Admiralty charts on the word of a lamp keeper.',
  },
  {
    question: 'How deep did the old chart say the water was over the bank?',
    answer: 'The Admiralty chart showed seven.',
  },
];
