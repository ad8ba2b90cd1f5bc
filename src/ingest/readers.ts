/**
 * Reads an uploaded book into plain text. The format comes from the magic bytes first (`%PDF-`,
 * a ZIP holding `META-INF/container.xml`), then from the file extension or content type:
 * - text and Markdown: UTF-8 (or UTF-16 with a BOM); the BOM is stripped, newlines become `\n`,
 *   Unicode is NFC; invalid UTF-8 or binary content is refused;
 * - EPUB: the chapters in spine order (linear items, the nav document skipped), each turned from
 *   XHTML into text with headings as `# Heading` lines; title and author from the OPF;
 * - PDF (pdfjs-dist): the pages in order, a blank line between paragraphs and pages.
 * Anything else, or a file that cannot be read, is an UnsupportedBookError with a stable `code`.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import JSZip from 'jszip';
import { htmlToText, xmlElements } from './html-text.js';

export type BookFormat = 'text' | 'markdown' | 'epub' | 'pdf';

interface BookText {
  text: string;
  format: BookFormat;
  /** From the EPUB's metadata, when it has one. */
  title?: string;
  author?: string;
}

type UnsupportedBookCode =
  | 'unsupported_format'
  | 'invalid_encoding'
  | 'binary'
  | 'corrupt'
  | 'encrypted'
  | 'empty';

export class UnsupportedBookError extends Error {
  override readonly name = 'UnsupportedBookError';

  constructor(
    message: string,
    readonly code: UnsupportedBookCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

interface BookHint {
  path: string;
  contentType?: string | undefined;
}

export async function readBookText(bytes: Uint8Array, hint: BookHint): Promise<BookText> {
  const format = detectBookFormat(bytes, hint);
  const book =
    format === 'pdf'
      ? { text: await readPdf(bytes, hint.path) }
      : format === 'epub'
        ? await readEpub(bytes, hint.path)
        : { text: normalizeText(decodeText(bytes, hint.path)) };
  if (book.text.trim() === '') {
    throw new UnsupportedBookError(
      format === 'pdf'
        ? `${hint.path} has no extractable text (a scanned PDF needs OCR first)`
        : `${hint.path} contains no text`,
      'empty',
    );
  }
  return { ...book, format };
}

const BINARY_SIGNATURES: [string, number[]][] = [
  ['a PNG image', [0x89, 0x50, 0x4e, 0x47]],
  ['a JPEG image', [0xff, 0xd8, 0xff]],
  ['a GIF image', [0x47, 0x49, 0x46, 0x38]],
  ['a gzip archive', [0x1f, 0x8b]],
  ['a RAR archive', [0x52, 0x61, 0x72, 0x21]],
  ['a 7-Zip archive', [0x37, 0x7a, 0xbc, 0xaf]],
  ['an old Word/Office document', [0xd0, 0xcf, 0x11, 0xe0]],
  ['a RIFF media file', [0x52, 0x49, 0x46, 0x46]],
];

/** The book's format, or UnsupportedBookError for a kind of file that is not a book we read. */
export function detectBookFormat(bytes: Uint8Array, hint: BookHint): BookFormat {
  const head = Buffer.from(bytes.subarray(0, 1024)).toString('latin1');
  if (head.includes('%PDF-')) return 'pdf';
  if (startsWith(bytes, [0x50, 0x4b, 0x03, 0x04]) || startsWith(bytes, [0x50, 0x4b, 0x05, 0x06])) {
    return 'epub';
  }
  for (const [kind, signature] of BINARY_SIGNATURES) {
    if (startsWith(bytes, signature)) {
      throw new UnsupportedBookError(
        `${hint.path} is ${kind}, not a book format we read`,
        'unsupported_format',
      );
    }
  }
  const declared = declaredFormat(hint);
  if (declared === 'pdf' || declared === 'epub') {
    throw new UnsupportedBookError(
      `${hint.path} is said to be ${declared === 'pdf' ? 'a PDF' : 'an EPUB'} but is not one (damaged or mislabelled)`,
      'corrupt',
    );
  }
  return declared ?? 'text';
}

function declaredFormat(hint: BookHint): BookFormat | undefined {
  const type = hint.contentType?.split(';')[0]?.trim().toLowerCase();
  const extension = /\.([a-z0-9]+)$/i.exec(hint.path)?.[1]?.toLowerCase();
  if (type === 'application/pdf' || extension === 'pdf') return 'pdf';
  if (type === 'application/epub+zip' || extension === 'epub') return 'epub';
  if (type === 'text/markdown' || type === 'text/x-markdown') return 'markdown';
  if (extension === 'md' || extension === 'markdown' || extension === 'mdown') return 'markdown';
  if (type?.startsWith('text/') || extension === 'txt' || extension === 'text') return 'text';
  return undefined;
}

function startsWith(bytes: Uint8Array, signature: readonly number[]): boolean {
  return bytes.length >= signature.length && signature.every((b, i) => bytes[i] === b);
}

/** UTF-8 (BOM optional) or UTF-16 with a BOM; refuses invalid UTF-8 and binary content. */
function decodeText(bytes: Uint8Array, path: string): string {
  let text: string;
  if (startsWith(bytes, [0xff, 0xfe]) || startsWith(bytes, [0xfe, 0xff])) {
    text = new TextDecoder(bytes[0] === 0xff ? 'utf-16le' : 'utf-16be').decode(bytes);
  } else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch (error) {
      throw new UnsupportedBookError(
        `${path} is not valid UTF-8 text (save it as UTF-8 and upload it again)`,
        'invalid_encoding',
        { cause: error },
      );
    }
  }
  const sample = text.slice(0, 8192);
  let control = 0;
  for (let i = 0; i < sample.length; i++) {
    const code = sample.charCodeAt(i);
    if (code === 0) {
      throw new UnsupportedBookError(`${path} is a binary file, not text`, 'binary');
    }
    if (code < 32 && code !== 9 && code !== 10 && code !== 13 && code !== 12) control++;
  }
  if (control > sample.length * 0.02) {
    throw new UnsupportedBookError(`${path} is a binary file, not text`, 'binary');
  }
  return text;
}

function normalizeText(text: string): string {
  return text
    .replace(/^\uFEFF/, '')
    .replace(/\r\n?/g, '\n')
    .normalize('NFC');
}

// Font obfuscation (IDPF, Adobe) is allowed: it hides fonts, not text.
const FONT_OBFUSCATION = /idpf\.org\/2008\/embedding|ns\.adobe\.com\/pdf\/enc#RC/;

async function readEpub(
  bytes: Uint8Array,
  path: string,
): Promise<{ text: string; title?: string; author?: string }> {
  let zip: JSZip;
  try {
    zip = await JSZip.loadAsync(bytes, { checkCRC32: true });
  } catch (error) {
    throw new UnsupportedBookError(`${path} is a damaged ZIP/EPUB archive`, 'corrupt', {
      cause: error,
    });
  }
  const container = await readZipText(zip, 'META-INF/container.xml');
  if (container === undefined) {
    throw new UnsupportedBookError(
      `${path} is a ZIP archive but not an EPUB (no META-INF/container.xml)`,
      'unsupported_format',
    );
  }
  const encryption = await readZipText(zip, 'META-INF/encryption.xml');
  if (encryption !== undefined) {
    const algorithms = xmlElements(encryption)
      .filter((e) => e.name === 'EncryptionMethod')
      .map((e) => e.attributes.Algorithm ?? '');
    if (algorithms.some((algorithm) => !FONT_OBFUSCATION.test(algorithm))) {
      throw new UnsupportedBookError(
        `${path} is DRM-protected; upload a DRM-free EPUB`,
        'encrypted',
      );
    }
  }
  const rootfile = xmlElements(container).find(
    (e) => e.name === 'rootfile' && e.attributes['full-path'],
  )?.attributes['full-path'];
  const opf = rootfile === undefined ? undefined : await readZipText(zip, rootfile);
  if (rootfile === undefined || opf === undefined) {
    throw new UnsupportedBookError(`${path} has no readable package document (OPF)`, 'corrupt');
  }
  const elements = xmlElements(opf);
  const base = rootfile.includes('/') ? rootfile.slice(0, rootfile.lastIndexOf('/') + 1) : '';
  const manifest = new Map<string, { href: string; type: string; properties: string }>();
  for (const e of elements) {
    if (e.name !== 'item' || !e.attributes.id || !e.attributes.href) continue;
    manifest.set(e.attributes.id, {
      href: e.attributes.href,
      type: e.attributes['media-type'] ?? '',
      properties: e.attributes.properties ?? '',
    });
  }
  const spine = elements.filter((e) => e.name === 'itemref' && e.attributes.linear !== 'no');
  const chapters: string[] = [];
  for (const ref of spine) {
    const item = manifest.get(ref.attributes.idref ?? '');
    if (!item || /\bnav\b/.test(item.properties)) continue;
    if (!/html/.test(item.type)) continue;
    const html = await readZipText(zip, resolveHref(base, item.href));
    if (html === undefined) continue;
    const text = htmlToText(html);
    if (text !== '') chapters.push(text);
  }
  if (spine.length === 0) {
    throw new UnsupportedBookError(`${path} has an empty spine: no chapters to read`, 'corrupt');
  }
  const title = elements.find((e) => e.name === 'title')?.text.trim();
  const author = elements.find((e) => e.name === 'creator')?.text.trim();
  return {
    text: normalizeText(chapters.join('\n\n')),
    ...(title ? { title } : {}),
    ...(author ? { author } : {}),
  };
}

/** The entry's text, matching its name case-insensitively when the exact one is missing. */
async function readZipText(zip: JSZip, name: string): Promise<string | undefined> {
  let file = zip.file(name);
  if (!file) {
    const lower = name.toLowerCase();
    const match = Object.keys(zip.files).find((key) => key.toLowerCase() === lower);
    file = match === undefined ? null : zip.file(match);
  }
  if (!file) return undefined;
  try {
    return new TextDecoder('utf-8').decode(await file.async('uint8array'));
  } catch (error) {
    throw new UnsupportedBookError(`the archive entry ${name} is damaged`, 'corrupt', {
      cause: error,
    });
  }
}

function resolveHref(base: string, href: string): string {
  const target = decodeURIComponentSafe(href.split('#')[0] ?? '');
  const parts = (target.startsWith('/') ? target.slice(1) : base + target).split('/');
  const resolved: string[] = [];
  for (const part of parts) {
    if (part === '..') resolved.pop();
    else if (part !== '.' && part !== '') resolved.push(part);
  }
  return resolved.join('/');
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

const require = createRequire(import.meta.url);
const STANDARD_FONTS = `${join(dirname(require.resolve('pdfjs-dist/package.json')), 'standard_fonts')}/`;

interface PdfTextItem {
  str: string;
  transform: number[];
  height: number;
}

async function readPdf(bytes: Uint8Array, path: string): Promise<string> {
  const pdfjs = await import('pdfjs-dist/legacy/build/pdf.mjs');
  // pdf.js may transfer (detach) the buffer it is given: hand it a copy.
  const task = pdfjs.getDocument({
    data: new Uint8Array(bytes),
    isEvalSupported: false,
    disableFontFace: true,
    useSystemFonts: false,
    standardFontDataUrl: STANDARD_FONTS,
    verbosity: pdfjs.VerbosityLevel.ERRORS,
  });
  try {
    const doc = await task.promise;
    const pages: string[] = [];
    for (let n = 1; n <= doc.numPages; n++) {
      const page = await doc.getPage(n);
      const content = await page.getTextContent();
      pages.push(
        pageText(
          content.items.flatMap((item) =>
            'str' in item
              ? [{ str: item.str, transform: item.transform as number[], height: item.height }]
              : [],
          ),
        ),
      );
      page.cleanup();
    }
    return normalizeText(pages.filter((p) => p !== '').join('\n\n'));
  } catch (error) {
    const name = error instanceof Error ? error.name : '';
    if (name === 'PasswordException') {
      throw new UnsupportedBookError(`${path} is password-protected`, 'encrypted', {
        cause: error,
      });
    }
    const detail = error instanceof Error ? error.message : String(error);
    throw new UnsupportedBookError(`${path} is a damaged PDF (${detail})`, 'corrupt', {
      cause: error,
    });
  } finally {
    await task.destroy();
  }
}

/** Lines from the items' baselines; a gap of more than ~1.8 lines starts a new paragraph. */
function pageText(items: readonly PdfTextItem[]): string {
  let text = '';
  let lastY: number | undefined;
  for (const item of items) {
    const y = item.transform[5] ?? 0;
    const size = Math.abs(item.height || item.transform[3] || 10);
    if (lastY !== undefined && Math.abs(y - lastY) > size * 0.5) {
      text = text.replace(/[ \t]+$/, '');
      text += lastY - y > size * 1.8 ? '\n\n' : '\n';
    }
    text += item.str;
    if (item.str !== '') lastY = y;
  }
  return text.trim();
}
