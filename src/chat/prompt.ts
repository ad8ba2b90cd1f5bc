import { Tiktoken } from 'js-tiktoken/lite';
import cl100k from 'js-tiktoken/ranks/cl100k_base';
import type { BookRow, CharacterRow } from '../models.js';
import type { ChatMessage } from '../providers/types.js';
import type { FusedPassage } from './fusion.js';
import type { SessionContext } from './session-context.js';

let encoder: Tiktoken | null = null;

// BPE merging is quadratic in the length of one pre-tokenised piece, and cl100k keeps a run of
// letters (Chinese or Japanese prose, which has no spaces), of punctuation or emoji, or of
// whitespace as one piece: 4,000 such characters took seconds to count, blocking the process.
// So the text is split as cl100k splits it, and only a piece longer than LONG_PIECE code units is
// counted in slices of SLICE code points. Ordinary text is counted exactly; a sliced piece may
// differ by about a token per slice (measured: none for Chinese prose).
const PIECES = new RegExp(cl100k.pat_str, 'gu');
const LONG_PIECE = 64;
const SLICE = 16;

export function countTokens(text: string): number {
  encoder ??= new Tiktoken(cl100k);
  const enc = encoder;
  // Special tokens: the encoder's own handling (it refuses them).
  if (text.includes('<|')) return countSliced(enc, text);
  // The encoder splits the text into the same pieces and sums their tokens: each ordinary piece
  // (a word with its leading space, mostly) is counted once per process and remembered.
  let n = 0;
  for (const match of text.matchAll(PIECES)) {
    const piece = match[0];
    if (piece.length > LONG_PIECE) {
      n += countLongPiece(enc, piece);
      continue;
    }
    let c = pieceTokens.get(piece);
    if (c === undefined) {
      c = enc.encode(piece).length;
      if (pieceTokens.size >= MAX_REMEMBERED_PIECES) pieceTokens.clear();
      pieceTokens.set(piece, c);
    }
    n += c;
  }
  return n;
}

const pieceTokens = new Map<string, number>();
const MAX_REMEMBERED_PIECES = 100_000;

function countLongPiece(enc: Tiktoken, piece: string): number {
  const points = Array.from(piece);
  let n = 0;
  for (let i = 0; i < points.length; i += SLICE) {
    n += enc.encode(points.slice(i, i + SLICE).join('')).length;
  }
  return n;
}

function countSliced(enc: Tiktoken, text: string): number {
  let n = 0;
  let last = 0;
  for (const piece of text.matchAll(PIECES)) {
    if (piece[0].length <= LONG_PIECE) continue;
    if (piece.index > last) n += enc.encode(text.slice(last, piece.index)).length;
    n += countLongPiece(enc, piece[0]);
    last = piece.index + piece[0].length;
  }
  if (last < text.length) n += enc.encode(last === 0 ? text : text.slice(last)).length;
  return n;
}

interface BuiltPrompt {
  messages: ChatMessage[];
  passages: FusedPassage[];
  tokens: number;
}

/**
 * Builds the generation prompt: the character's system prompt, the book, the conversation summary,
 * the passages (with their chunk indexes), the recent messages and the reader's message, fitted to
 * a token budget counted with a real BPE tokenizer (cl100k_base). What gives way first: the oldest
 * recent messages, then the lowest-ranked passages, then the summary; the system prompt and the
 * reader's message always stay.
 */
export function buildPrompt(input: {
  character: CharacterRow;
  book: BookRow;
  context: SessionContext;
  passages: readonly FusedPassage[];
  message: string;
  budget: number;
}): BuiltPrompt {
  const { character, book, context, message, budget } = input;
  let passages = [...input.passages];
  let recent = [...context.messages];
  let summary = context.summary;

  const render = (): ChatMessage[] => {
    const bookLine = `Book: "${book.title}"${book.author ? ` by ${book.author}` : ''}.`;
    const passageText =
      passages.length === 0
        ? 'No passage of the book matched this message. Say so if the book does not tell.'
        : passages
            .map(
              (p) =>
                `[chunk ${p.chunk.chunk_index}${p.chunk.chapter ? `, ${p.chunk.chapter}` : ''}]\n${p.chunk.text}`,
            )
            .join('\n\n');
    const system = [
      character.system_prompt,
      bookLine,
      summary ? `Earlier in this conversation: ${summary}` : '',
      `Passages from the book for this reply:\n\n${passageText}`,
    ]
      .filter(Boolean)
      .join('\n\n');
    return [
      { role: 'system', content: system },
      ...recent.map((m) => ({
        role: m.role === 'assistant' ? ('assistant' as const) : ('user' as const),
        content: m.content,
      })),
      { role: 'user', content: message },
    ];
  };
  // Each trimming step re-renders the prompt; the texts that did not change are not recounted.
  const counted = new Map<string, number>();
  const count = (text: string) => {
    let n = counted.get(text);
    if (n === undefined) {
      n = countTokens(text);
      counted.set(text, n);
    }
    return n;
  };
  const size = (msgs: ChatMessage[]) => msgs.reduce((n, m) => n + count(m.content) + 4, 0);

  let messages = render();
  let tokens = size(messages);
  while (tokens > budget) {
    if (recent.length > 0) recent = recent.slice(1);
    else if (passages.length > 0) passages = passages.slice(0, -1);
    else if (summary) summary = '';
    else break;
    messages = render();
    tokens = size(messages);
  }
  return { messages, passages, tokens };
}
