/**
 * (X)HTML to plain text for EPUB chapters: headings become `#`-prefixed lines (`## Title` for an
 * h2), paragraphs and other blocks become paragraphs separated by a blank line, list items start
 * with `- `, `<br>` is a line break, whitespace inside a block collapses to single spaces, entities
 * are decoded, and the head, scripts, styles and ruby annotations are dropped.
 */
import { Parser } from 'htmlparser2';

const SKIP = new Set([
  'head',
  'script',
  'style',
  'title',
  'noscript',
  'template',
  'rt',
  'rp',
  'svg',
  'math',
]);
const BLOCK = new Set([
  'p',
  'div',
  'section',
  'article',
  'aside',
  'header',
  'footer',
  'main',
  'blockquote',
  'figure',
  'figcaption',
  'pre',
  'table',
  'thead',
  'tbody',
  'tr',
  'ul',
  'ol',
  'dl',
  'dt',
  'dd',
  'li',
  'hr',
  'body',
  'nav',
  'address',
  'center',
]);

export function htmlToText(html: string): string {
  const blocks: string[] = [];
  let buffer = '';
  let skipping = 0;
  let headingLevel = 0;
  let listItem = false;

  const flush = () => {
    const text = buffer
      .split('\n')
      .map((line) => line.replace(/[ \t\f\r\u00a0]+/g, ' ').trim())
      .filter((line) => line !== '')
      .join('\n');
    buffer = '';
    if (text === '') {
      listItem = false;
      return;
    }
    if (headingLevel > 0) blocks.push(`${'#'.repeat(headingLevel)} ${text.replace(/\n/g, ' ')}`);
    else blocks.push(listItem ? `- ${text}` : text);
    listItem = false;
  };

  const parser = new Parser(
    {
      onopentag(name) {
        if (SKIP.has(name)) {
          skipping++;
          return;
        }
        if (skipping > 0) return;
        const level = /^h([1-6])$/.exec(name)?.[1];
        if (level !== undefined) {
          flush();
          headingLevel = Number(level);
        } else if (BLOCK.has(name)) {
          flush();
          if (name === 'li') listItem = true;
        } else if (name === 'br') {
          buffer += '\n';
        } else if (name === 'td' || name === 'th') {
          buffer += ' ';
        }
      },
      ontext(text) {
        if (skipping === 0) buffer += text.replace(/\s+/g, (ws) => (ws.includes('\n') ? ' ' : ws));
      },
      onclosetag(name) {
        if (SKIP.has(name)) {
          skipping = Math.max(0, skipping - 1);
          return;
        }
        if (skipping > 0) return;
        if (/^h[1-6]$/.test(name)) {
          flush();
          headingLevel = 0;
        } else if (BLOCK.has(name)) {
          flush();
        }
      },
    },
    { decodeEntities: true, lowerCaseTags: true, recognizeSelfClosing: true },
  );
  parser.write(html);
  parser.end();
  flush();
  return blocks.join('\n\n');
}

/** One parsed XML element: its local name (prefix dropped), attributes and direct text. */
interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  text: string;
}

/** A flat list of the elements of an XML document, in document order (for container and OPF). */
export function xmlElements(xml: string): XmlElement[] {
  const elements: XmlElement[] = [];
  const open: XmlElement[] = [];
  const parser = new Parser(
    {
      onopentag(name, attributes) {
        const localAttributes: Record<string, string> = {};
        for (const [key, value] of Object.entries(attributes)) {
          localAttributes[key.split(':').at(-1)!] ??= value;
          localAttributes[key] = value;
        }
        const element = { name: name.split(':').at(-1)!, attributes: localAttributes, text: '' };
        elements.push(element);
        open.push(element);
      },
      ontext(text) {
        const current = open.at(-1);
        if (current) current.text += text;
      },
      onclosetag() {
        open.pop();
      },
    },
    { xmlMode: true, decodeEntities: true },
  );
  parser.write(xml);
  parser.end();
  return elements;
}
