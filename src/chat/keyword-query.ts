/**
 * The one place a keyword query for Typesense is made, for `searchBook` and for the chat turn
 * alike. Typesense matches documents containing every query word, and when fewer than
 * `drop_tokens_threshold` documents do, it drops words (from the right, then from the left) and
 * searches again, ranking documents that matched more words first. So the query must carry only
 * words that say what to find:
 *
 * - words are cut as Typesense's tokenizer cuts them (whitespace-separated, symbols dropped inside a
 *   word, lowercased, diacritics stripped: `forty-one` is `fortyone`), and a possessive `'s` is
 *   removed so that `Kettle's` finds `Kettle`;
 * - stopwords and one-letter words are left out; a question with nothing else makes no keyword
 *   search at all (its hits would match only `what` or `the`);
 * - at most `MAX_WORDS` words, repeated ones once, longest first: Typesense drops words from the
 *   right, and a long word is more often a rare one that tells passages apart than a short one
 *   (measured with `npm run eval`: on both books, ahead of the text's order and of names first);
 * - only bare words are sent, so quotes, `-word` exclusions, `*` and backticks in a reader's text
 *   reach Typesense as nothing (no phrase or operator can be injected).
 *
 * And the search parameters, chosen for passages of a book rather than a search box:
 * - `drop_tokens_threshold` = the number of candidates wanted, so a long query keeps dropping words
 *   until enough passages are found instead of stopping at the first that matches all;
 * - `num_typos` 1 and `typo_tokens_threshold` 1: a misspelt name still matches, but typo
 *   candidates are tried only when the exact word matched nothing;
 * - `prefix` false: the reader's last word is complete, not being typed (prefix expansion would make
 *   `time` match `timers`);
 * - `query_by` `text,chapter` weighted 2:1, `text_match_type` `max_score`: a passage is scored by
 *   its best field, and a chapter title counts half as much as the passage's own words.
 */
import { STOPWORDS } from '../providers/text.js';

export const MAX_WORDS = 10;

/** Contractions as the tokenizer joins them (`don't` is `dont`): stopwords too. */
const CONTRACTIONS: ReadonlySet<string> = new Set(
  (
    'dont doesnt didnt isnt arent wasnt werent cant couldnt wouldnt shouldnt wont hasnt havent ' +
    'hadnt im ive id ill youre youve youd youll hes shes theyre theyve weve were whats thats ' +
    'theres heres whos wheres hows lets'
  ).split(' '),
);

export interface KeywordSearchParams {
  q: string;
  query_by: string;
  query_by_weights: string;
  drop_tokens_threshold: number;
  typo_tokens_threshold: number;
  num_typos: string;
  prefix: string;
  text_match_type: 'max_score' | 'max_weight' | 'sum_score';
}

/** The words of `text` worth searching for, in the order they are sent. */
export function keywordWords(text: string): string[] {
  const words: string[] = [];
  for (const raw of text.split(/\s+/u)) {
    const word = normalise(raw.replace(/['’]s(?=[^\p{L}\p{N}]*$)/iu, ''));
    if (word.length < 2 || STOPWORDS.has(word) || CONTRACTIONS.has(word)) continue;
    if (!words.includes(word)) words.push(word);
  }
  // Longest first (a stable sort: equal lengths keep the text's order).
  return words.sort((a, b) => b.length - a.length).slice(0, MAX_WORDS);
}

/** Typesense search parameters for `text`; null when it has no word worth searching for. */
export function keywordSearch(text: string, candidates: number): KeywordSearchParams | null {
  const words = keywordWords(text);
  if (words.length === 0) return null;
  return {
    q: words.join(' '),
    query_by: 'text,chapter',
    query_by_weights: '2,1',
    drop_tokens_threshold: Math.max(1, candidates),
    typo_tokens_threshold: 1,
    num_typos: '1',
    prefix: 'false',
    text_match_type: 'max_score',
  };
}

/** The two queries a reader's search question becomes: the narrative for the vectors and the keyword query. */
export function searchQueries(question: string): { narrative: string; keyword: string } {
  const q = question.trim();
  return { narrative: q, keyword: q };
}

/** As Typesense's default tokenizer: NFKD, marks removed, lowercase, letters and digits only. */
function normalise(word: string): string {
  return word
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, '');
}
