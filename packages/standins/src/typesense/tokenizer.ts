/**
 * Tokenizer of the Typesense stand-in, modelled on Typesense's default (non-locale) tokenizer:
 * text is split on whitespace and on the collection's `token_separators`; inside a word, every
 * character that is neither a letter nor a digit is dropped (unless listed in `symbols_to_index`),
 * so `don't` indexes as `dont` and `U.S.A.` as `usa`. Words are lowercased and diacritics are
 * stripped (NFKD, combining marks removed). Each token keeps the offsets of its source word so
 * that highlighting can mark the original text.
 */

export interface Token {
  /** Normalised form, used as the index term. */
  text: string;
  /** Offset of the source word's first UTF-16 unit in the original string. */
  start: number;
  /** Offset just past the source word. */
  end: number;
}

export interface TokenizerOptions {
  separators?: readonly string[];
  symbols?: readonly string[];
}

const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;
const COMBINING_MARK = /\p{M}/gu;
const WHITESPACE = /\s/u;

/** Lowercases, strips diacritics and drops characters that are neither letters, digits nor indexed symbols. */
export function normalizeWord(word: string, symbols: ReadonlySet<string> = EMPTY): string {
  const folded = word.normalize('NFKD').replace(COMBINING_MARK, '').toLowerCase();
  let out = '';
  for (const ch of folded) {
    if (LETTER_OR_DIGIT.test(ch) || symbols.has(ch)) out += ch;
  }
  return out;
}

const EMPTY: ReadonlySet<string> = new Set();

export function tokenize(text: string, options: TokenizerOptions = {}): Token[] {
  const separators = new Set(options.separators ?? []);
  const symbols = new Set(options.symbols ?? []);
  const tokens: Token[] = [];
  let wordStart = -1;
  const flush = (end: number) => {
    if (wordStart < 0) return;
    const normalized = normalizeWord(text.slice(wordStart, end), symbols);
    if (normalized !== '') tokens.push({ text: normalized, start: wordStart, end });
    wordStart = -1;
  };
  let i = 0;
  for (const ch of text) {
    if (WHITESPACE.test(ch) || separators.has(ch)) {
      flush(i);
    } else if (wordStart < 0) {
      wordStart = i;
    }
    i += ch.length;
  }
  flush(i);
  return tokens;
}

/** Token texts only. */
export function terms(text: string, options: TokenizerOptions = {}): string[] {
  return tokenize(text, options).map((t) => t.text);
}
