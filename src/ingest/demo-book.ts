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
