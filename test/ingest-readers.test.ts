import { readFile } from 'node:fs/promises';
import JSZip from 'jszip';
import { describe, expect, it } from 'vitest';
import { chunkText } from '../src/ingest/chunker.js';
import { htmlToText } from '../src/ingest/html-text.js';
import { detectBookFormat, readBookText, UnsupportedBookError } from '../src/ingest/readers.js';
import { makeEpub, makePdf, SAMPLE_EPUB_CHAPTERS, SAMPLE_PDF_PAGES } from './fixtures/books.js';

const fixture = async (name: string) =>
  new Uint8Array(await readFile(new URL(`./fixtures/${name}`, import.meta.url)));
const utf8 = (text: string) => new TextEncoder().encode(text);

async function rejection(promise: Promise<unknown>): Promise<UnsupportedBookError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UnsupportedBookError);
  return error as UnsupportedBookError;
}

describe('readBookText: text and Markdown', () => {
  it('reads the .txt fixture', async () => {
    const book = await readBookText(await fixture('sample.txt'), { path: 'sample.txt' });
    expect(book.format).toBe('text');
    expect(book.text).toContain('"It always rains," said Tomas.');
    const chapters = new Set(
      chunkText(book.text, { targetChars: 100, overlapChars: 20 }).map((c) => c.chapter),
    );
    expect([...chapters]).toEqual([null, 'CHAPTER I', 'CHAPTER II']);
  });

  it('reads the .md fixture as Markdown, by extension or content type', async () => {
    const bytes = await fixture('sample.md');
    expect((await readBookText(bytes, { path: 'sample.md' })).format).toBe('markdown');
    const byType = await readBookText(bytes, {
      path: 'upload',
      contentType: 'text/markdown; charset=utf-8',
    });
    expect(byType.format).toBe('markdown');
    expect(byType.text.startsWith("# The Ferryman's Song\n\n## Chapter 1: The Quay")).toBe(true);
  });

  it('strips a BOM, normalises newlines and composes Unicode', async () => {
    const book = await readBookText(utf8('\uFEFFline one\r\nline two\rline 3 cafe\u0301\n'), {
      path: 'a.txt',
    });
    expect(book.text).toBe('line one\nline two\nline 3 café\n');
  });

  it('reads UTF-16 with a BOM', async () => {
    const bytes = new Uint8Array([0xff, 0xfe, ...Buffer.from('Héllo there', 'utf16le')]);
    expect((await readBookText(bytes, { path: 'u16.txt' })).text).toBe('Héllo there');
  });

  it('refuses invalid UTF-8, binary content and empty files with typed errors', async () => {
    const latin1 = new Uint8Array(Buffer.from('caf\xe9 cr\xe8me', 'latin1'));
    expect((await rejection(readBookText(latin1, { path: 'old.txt' }))).code).toBe(
      'invalid_encoding',
    );
    const binary = new Uint8Array([0x41, 0x42, 0x00, 0x01, 0x43]);
    expect((await rejection(readBookText(binary, { path: 'x.txt' }))).code).toBe('binary');
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const error = await rejection(readBookText(png, { path: 'cover.txt' }));
    expect(error).toMatchObject({
      code: 'unsupported_format',
      message: expect.stringMatching(/PNG/),
    });
    expect((await rejection(readBookText(utf8(' \n\n '), { path: 'e.md' }))).code).toBe('empty');
  });
});

describe('readBookText: EPUB', () => {
  it('reads chapters in spine order with headings, paragraphs and metadata', async () => {
    const bytes = await makeEpub(SAMPLE_EPUB_CHAPTERS, {
      title: 'Tides & Bells',
      author: 'A. Writer',
    });
    const book = await readBookText(bytes, { path: 'upload.bin' });
    expect(book).toMatchObject({ format: 'epub', title: 'Tides & Bells', author: 'A. Writer' });
    expect(book.text).toBe(
      [
        '# Chapter 1: The Tide',
        'The tide came in at dawn.',
        '“Look,” said Mira, pointing at the water.\nNobody answered.',
        '# Chapter 2: The Bell',
        'The bell rang & rang.',
        '- One',
        '- Two',
      ].join('\n\n'),
    );
    expect(book.text).not.toMatch(/alert|color|Contents/);
    const chapters = chunkText(book.text, { targetChars: 40, overlapChars: 10 }).map(
      (c) => c.chapter,
    );
    expect(new Set(chapters)).toEqual(new Set(['Chapter 1: The Tide', 'Chapter 2: The Bell']));
  });

  it('follows the spine, not the manifest, for a reordered book', async () => {
    const reversed = [...SAMPLE_EPUB_CHAPTERS].reverse();
    const book = await readBookText(await makeEpub(reversed, { title: 'T', author: 'A' }), {
      path: 'b.epub',
    });
    expect(book.text.indexOf('Chapter 2')).toBeLessThan(book.text.indexOf('Chapter 1'));
  });

  it('reads the committed sample.epub', async () => {
    const book = await readBookText(await fixture('sample.epub'), { path: 'sample.epub' });
    expect(book.text).toContain('# Chapter 2: The Bell');
  });

  it('refuses a ZIP that is not an EPUB, a DRM-protected EPUB and a damaged one', async () => {
    const docx = new JSZip();
    docx.file('word/document.xml', '<w:document/>');
    const notEpub = await docx.generateAsync({ type: 'uint8array' });
    expect((await rejection(readBookText(notEpub, { path: 'a.docx' }))).code).toBe(
      'unsupported_format',
    );

    const drm = await JSZip.loadAsync(
      await makeEpub(SAMPLE_EPUB_CHAPTERS, { title: 'T', author: 'A' }),
    );
    drm.file(
      'META-INF/encryption.xml',
      '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData><enc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/></enc:EncryptedData></encryption>',
    );
    const locked = await drm.generateAsync({ type: 'uint8array' });
    expect((await rejection(readBookText(locked, { path: 'drm.epub' }))).code).toBe('encrypted');

    expect(
      (await rejection(readBookText(await fixture('corrupt.epub'), { path: 'corrupt.epub' }))).code,
    ).toBe('corrupt');
  });
});

describe('readBookText: PDF', () => {
  it('reads pages in order, with paragraph gaps', async () => {
    const book = await readBookText(makePdf(SAMPLE_PDF_PAGES), { path: 'book.pdf' });
    expect(book.format).toBe('pdf');
    expect(book.text).toBe(
      'Chapter 1\n\nThe lamp was lit at dusk by the keeper.\nIt burned (as always) until dawn.\n\n' +
        'Chapter 2\n\nMira climbed the stairs at midnight.',
    );
    const chapters = chunkText(book.text, { targetChars: 60, overlapChars: 10 }).map(
      (c) => c.chapter,
    );
    expect(new Set(chapters)).toEqual(new Set(['Chapter 1', 'Chapter 2']));
  });

  it('reads many pages in order', async () => {
    const pages = Array.from({ length: 12 }, (_, i) => [`Page ${i + 1} says hello.`]);
    const book = await readBookText(makePdf(pages), { path: 'many.pdf' });
    expect(book.text.split('\n\n')).toEqual(pages.map((p) => p[0]));
  });

  it('reads the committed sample.pdf, whatever its name says', async () => {
    const book = await readBookText(await fixture('sample.pdf'), { path: 'mislabelled.txt' });
    expect(book).toMatchObject({ format: 'pdf', text: expect.stringContaining('Mira climbed') });
  });

  it('refuses a damaged PDF and a PDF with no text', async () => {
    const damaged = await rejection(
      readBookText(await fixture('corrupt.pdf'), { path: 'corrupt.pdf' }),
    );
    expect(damaged.code).toBe('corrupt');
    expect(damaged.message).toMatch(/damaged PDF/);
    const blank = await rejection(readBookText(makePdf([[]]), { path: 'scan.pdf' }));
    expect(blank).toMatchObject({
      code: 'empty',
      message: expect.stringMatching(/no extractable text/),
    });
  });
});

describe('detectBookFormat', () => {
  it('trusts magic bytes first, then the name or type', () => {
    expect(detectBookFormat(utf8('%PDF-1.7 ...'), { path: 'x.md' })).toBe('pdf');
    expect(detectBookFormat(new Uint8Array([0x50, 0x4b, 3, 4]), { path: 'x.txt' })).toBe('epub');
    expect(detectBookFormat(utf8('# hi'), { path: 'notes.markdown' })).toBe('markdown');
    expect(detectBookFormat(utf8('hi'), { path: 'noext' })).toBe('text');
    expect(() => detectBookFormat(utf8('hello'), { path: 'book.pdf' })).toThrow(/not one/);
    expect(() =>
      detectBookFormat(utf8('hello'), { path: 'x', contentType: 'application/epub+zip' }),
    ).toThrow(UnsupportedBookError);
  });
});

describe('htmlToText', () => {
  it('keeps heading levels, line breaks and entities', () => {
    const html =
      '<html><head><title>T</title></head><body><h2>Part  One</h2><p>A&nbsp;b<br>c</p><p>  </p><blockquote>Q</blockquote></body></html>';
    expect(htmlToText(html)).toBe('## Part One\n\nA b\nc\n\nQ');
  });
});
