/**
 * Word-level text helpers shared by the offline providers: one normalisation (NFKD, diacritics
 * stripped, lowercase, Unicode letters and digits only) so that the local embedder, the offline
 * model's passage scoring and the ingest code agree on what a "word" is.
 */

/** Small English stopword list: function words that carry no topic. */
export const STOPWORDS: ReadonlySet<string> = new Set(
  (
    'a an the and or but if then else of to in on at by for with from into onto about as is are ' +
    'was were be been being am do does did doing have has had having it its this that these those ' +
    'there here so than too very can could will would shall should may might must not no nor ' +
    'only own same such just also again once out up down off over under further more most other ' +
    'some any each few both all what which who whom whose when where why how i me my mine we us ' +
    'our ours you your yours he him his she her hers they them their theirs itself myself ' +
    'yourself himself herself ourselves themselves s t d ll m re ve'
  ).split(' '),
);

const MARKS = /\p{M}+/gu;
const WORD = /[\p{L}\p{N}]+/gu;

/** NFKD, combining marks removed, lowercased. */
export function foldText(text: string): string {
  return text.normalize('NFKD').replace(MARKS, '').toLowerCase();
}

/** The normalised words of `text`, in order (letters and digits only; punctuation splits words). */
export function words(text: string): string[] {
  return foldText(text).match(WORD) ?? [];
}

/** Normalised words without stopwords, in order. */
export function contentWords(text: string): string[] {
  return words(text).filter((w) => !STOPWORDS.has(w));
}

const ABBREVIATIONS = new Set([
  'mr',
  'mrs',
  'ms',
  'dr',
  'st',
  'sr',
  'jr',
  'prof',
  'capt',
  'col',
  'gen',
  'lt',
  'mt',
  'vs',
  'etc',
  'e.g',
  'i.e',
  'no',
]);

/**
 * Sentence spans of `text` as [start, end) offsets, trimmed of surrounding whitespace. A sentence
 * ends after `.`, `!`, `?`, `…` (and Arabic `؟`, CJK `。！？`), plus any closing quotes/brackets,
 * when whitespace and then no lowercase letter follow; common abbreviations (`Mr.`, `Dr.`) and
 * single initials do not end one.
 */
export function sentenceSpans(text: string, from = 0, to = text.length): [number, number][] {
  // Scan a slice: a regex over the whole text could run far past `to` looking for a match.
  const part = from === 0 && to === text.length ? text : text.slice(from, to);
  const spans: [number, number][] = [];
  const end = /[.!?…؟。！？]+["'”’»)\]]*(?=\s|$)/gu;
  let start = skipSpace(part, 0, part.length);
  for (let m = end.exec(part); m !== null; m = end.exec(part)) {
    const stop = m.index + m[0].length;
    if (m[0] === '.' && isAbbreviation(part, m.index, start)) continue;
    // '"Wait!" she said' and 'e.g. this' go on: a lowercase word does not start a sentence.
    if (/\p{Ll}/u.test(part[skipSpace(part, stop, part.length)] ?? '')) continue;
    if (stop > start) spans.push([from + start, from + stop]);
    start = skipSpace(part, stop, part.length);
  }
  const tail = trimEnd(part, start, part.length);
  if (tail > start) spans.push([from + start, from + tail]);
  return spans;
}

function isAbbreviation(text: string, dot: number, sentenceStart: number): boolean {
  let i = dot;
  while (i > sentenceStart && /[\p{L}.]/u.test(text[i - 1] ?? '')) i--;
  const word = text.slice(i, dot).toLowerCase();
  if (word.length === 1 && word !== 'i' && /\p{Lu}/u.test(text[i] ?? '')) return true;
  return ABBREVIATIONS.has(word);
}

function skipSpace(text: string, i: number, to: number): number {
  while (i < to && /\s/.test(text[i] ?? '')) i++;
  return i;
}

function trimEnd(text: string, from: number, to: number): number {
  while (to > from && /\s/.test(text[to - 1] ?? '')) to--;
  return to;
}

// A few irregular forms, so that "who wrote" meets "wrote" and "write" alike.
const IRREGULAR: ReadonlyMap<string, string> = new Map(
  (
    'said:say told:tell wrote:write written:write saw:see seen:see came:come found:find ' +
    'drew:draw drawn:draw went:go gone:go took:take taken:take knew:know known:know kept:keep ' +
    'met:meet sent:send gave:give given:give made:make struck:strike sank:sink sunk:sink ' +
    'fell:fall fallen:fall began:begin brought:bring thought:think taught:teach left:leave ' +
    'lay:lie stood:stand sat:sit rode:ride ran:run won:win lost:lose held:hold heard:hear ' +
    'built:build children:child men:man women:woman feet:foot teeth:tooth'
  )
    .split(' ')
    .map((pair) => pair.split(':') as [string, string]),
);

/** A crude stem: irregular forms, then plural and verb endings. Only used for matching. */
export function stem(word: string): string {
  const irregular = IRREGULAR.get(word);
  if (irregular) return irregular;
  if (word.length > 4 && word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.length > 5 && word.endsWith('ing')) return word.slice(0, -3);
  if (word.length > 4 && word.endsWith('ed')) return word.slice(0, -2);
  if (word.length > 3 && word.endsWith('es') && /(ss|sh|ch|x)es$/.test(word))
    return word.slice(0, -2);
  if (word.length > 3 && word.endsWith('s') && !word.endsWith('ss')) return word.slice(0, -1);
  return word;
}
