/**
 * The offline fallback's reply: extractive and honest. The passage sentences are scored against the
 * reader's question by the question's content words (lightly stemmed), each weighted by its IDF over
 * the passages' sentences, plus a cue for the kind of question (who: names; where: places; when:
 * times; why: causes; how many: numbers; what did X say: X's own words). Words of a clause the
 * reader already knows ("... when Brenn wrote to them") weigh less; a sentence that restates the
 * reader's message is never used, and questions hardly count. The best run of one to three
 * consecutive sentences (and a second run, if nearly as good) is quoted once, in book order, as one
 * clean quotation: the book's own quotation marks become single quotes inside it, gaps are "…".
 * A follow-up about what was just said ("what did you say about the storm?") quotes the previous
 * reply back; any other follow-up borrows the previous turn's words (its names for the pronouns)
 * and prefers sentences not said yet.
 */
import { CAUSAL_CONNECTIVE, type QuestionKind, questionKind } from './question-kind.js';
import { contentWords, sentenceSpans, stem, words } from './text.js';
import type { ChatMessage, CompletionHints } from './types.js';

// Words that say how the reader asks, not what about.
const ASKING = new Set(
  (
    'say tell mention talk speak know think remember explain describe happen mean please book ' +
    'story chapter like thing things someone something anyone anything just really exactly ' +
    'again else tell kind sort want wanted'
  ).split(' '),
);

function terms(text: string): string[] {
  return contentWords(text)
    .map(stem)
    .filter((w) => !ASKING.has(w));
}

const NUMBER =
  /\b(\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|sixty|hundred|thousand|half|first|second|third|fourth|fifth)\b/i;
const TIME =
  /\b(\d{2,4}|years?|ago|days?|nights?|weeks?|months?|morning|evening|midnight|noon|dawn|dusk|night|spring|summer|autumn|winter|monday|tuesday|wednesday|thursday|friday|saturday|sunday|january|february|march|april|may|june|july|august|september|october|november|december|later|after|before|since|until|when|once|yesterday|tomorrow|today)\b/i;
const PLACE =
  /\b(at|in|on|under|beneath|beyond|behind|near|above|below|inside|outside|across|east|west|north|south|room|tower|house|cottage|shed|bay|coast|rock|rocks|island|city|town|village|harbour|harbor|street|road|shore)\b/i;
const CAUSE =
  /\b(because|since|so that|so|therefore|reason|in order to|for fear|why|cannot|could not|would not|(here|come|came|went|go) to \w+)\b/i;
const MANNER = /\b(by|with|through|using|way)\b/i;

/** Capitalised words that are not the sentence's first word: likely names and places. */
function namesIn(sentence: string): string[] {
  const found: string[] = [];
  const re = /(?<![.!?]\s|^)(?<=\s|[‘“"'(])\p{Lu}[\p{L}'’-]+/gu;
  for (const m of sentence.matchAll(re)) if (m[0] !== 'I') found.push(m[0].toLowerCase());
  return found;
}

interface Sentence {
  /** As quoted: whitespace collapsed, Markdown emphasis removed. */
  text: string;
  terms: Set<string>;
  /** Book order: passage chunk index, then offset. */
  order: number;
  chunk: number;
  index: number;
  said: boolean;
}

function clean(text: string): string {
  return text
    .replace(/\s+/g, ' ')
    .replace(/(^|[\s(“‘"'])[_*]{1,2}(?=\S)/g, '$1')
    .replace(/(?<=\S)[_*]{1,2}(?=$|[\s.,;:!?)”’"'])/g, '')
    .trim();
}

const key = (text: string) => words(text).join(' ');

function splitSentences(
  passages: readonly { chunkIndex: number; text: string }[],
  saidBefore: ReadonlySet<string>,
): Sentence[] {
  const out: Sentence[] = [];
  const seen = new Set<string>();
  // Passages overlap (chunking keeps some text of the previous chunk): each sentence once.
  const ordered = [...passages].sort((a, b) => a.chunkIndex - b.chunkIndex);
  for (const passage of ordered) {
    // Chapter headings are not something the book says: blank them out (same length).
    const body = passage.text.replace(/^#{1,6}[ \t].*$/gm, (line) => ' '.repeat(line.length));
    let index = 0;
    for (const [start, end] of sentenceSpans(body)) {
      const text = clean(body.slice(start, end));
      const k = key(text);
      // A chunk may also start inside a sentence that the previous chunk holds whole.
      if (text.length < 12 || k.length === 0 || [...seen].some((o) => ` ${o} `.includes(` ${k} `)))
        continue;
      seen.add(k);
      out.push({
        text,
        terms: new Set(terms(text)),
        order: passage.chunkIndex * 1_000_000 + start,
        chunk: passage.chunkIndex,
        index: index++,
        said: saidBefore.has(k),
      });
    }
  }
  return out;
}

function cueScore(kind: QuestionKind, s: Sentence, askedNames: ReadonlySet<string>): number {
  const t = s.text;
  switch (kind) {
    case 'who':
      if (/\b(name is|named|called)\s+\p{Lu}/u.test(t)) return 2;
      return namesIn(t).some((n) => !askedNames.has(n)) ? 1 : 0;
    case 'where':
      return PLACE.test(t) ? 0.6 : 0;
    case 'when':
      return TIME.test(t) ? 0.8 : 0;
    case 'why':
      // A causal connective says why; a purpose or an inability only may.
      return CAUSAL_CONNECTIVE.test(t) ? 1 : CAUSE.test(t) ? 0.5 : 0;
    case 'how-many':
      return NUMBER.test(t) ? 1 : 0;
    case 'how':
      return MANNER.test(t) ? 0.3 : 0;
    case 'said':
      // The named speaker's own words: a quotation attributed to them.
      return /["“”]/.test(t) && [...askedNames].some((n) => t.toLowerCase().includes(n)) ? 1 : 0;
    default:
      return 0;
  }
}

function overlap(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  if (a.size === 0 || b.size === 0) return 0;
  let n = 0;
  for (const w of a) if (b.has(w)) n++;
  return n / Math.min(a.size, b.size);
}

/** `b` carries on from `a` in the book: the next sentence of the chunk, or the next chunk's first. */
function follows(a: Sentence, b: Sentence): boolean {
  return a.chunk === b.chunk ? b.index === a.index + 1 : b.chunk === a.chunk + 1 && b.index === 0;
}

// "How deep is the water?": the word after "how" says what kind of answer, not what about.
const PREMISE =
  /(?<=\S\s+)\b(?:when|after|before|if|although|though|once|while|who|whom|whose|which)\b/i;
const MEASURE = /\bhow (many|much|long|far|deep|old|high|tall|big|wide|often)\b/gi;

/**
 * Picks the sentences that best answer `question`, in book order: the best run of one to three
 * consecutive sentences (an answer often sits beside the sentence that names its subject), plus a
 * second run from elsewhere when it scores nearly as well. `also` are words the question points at
 * (a pronoun's antecedent), weighed as the question's own; `context` words count a third.
 */
function bestSentences(
  question: string,
  sentences: readonly Sentence[],
  o: { context?: readonly string[]; also?: readonly string[]; max?: number } = {},
): Sentence[] {
  // "Why did the Board refuse when Brenn wrote?": what follows a mid-question "when" is what the
  // reader already knows; the sentence that answers speaks of the rest.
  const [main = '', ...premises] = question.replace(MEASURE, ' ').split(PREMISE);
  const own = new Set(terms(main));
  const premise = new Set(premises.flatMap(terms).filter((w) => !own.has(w)));
  for (const w of premise) own.add(w);
  const asked = new Set([...own, ...(o.also ?? []).flatMap(terms)]);
  const weight = (w: string) => (premise.has(w) ? 0.3 : 1);
  const contextTerms = new Set((o.context ?? []).flatMap(terms).filter((w) => !asked.has(w)));
  const askedNames = new Set(
    [...question.matchAll(/\p{Lu}[\p{L}'’-]+/gu)]
      .map((m) => m[0].toLowerCase().replace(/['’]s$/, ''))
      .filter((n) => n !== 'i'),
  );
  const kind = questionKind(question);
  const n = sentences.length;
  const df = new Map<string, number>();
  for (const s of sentences) for (const w of s.terms) df.set(w, (df.get(w) ?? 0) + 1);
  const idf = (w: string) => Math.log(1 + n / (df.get(w) ?? n));

  // The reader's own words are no answer: a sentence that holds the question and little else is
  // left out, and no run may pass over it.
  const echo = sentences.map((s) => {
    let shared = 0;
    for (const w of own) if (s.terms.has(w)) shared++;
    return own.size > 0 && shared / own.size > 0.8 && s.terms.size <= own.size + 1;
  });
  // For "why did he come?", a cause or purpose given with the very verb asked about ("I have come
  // to draw this coast") answers more directly than one given for something else.
  const cues = sentences.map((s) => {
    const cue = cueScore(kind, s, askedNames);
    if (kind !== 'why' || cue === 0) return cue;
    const given = s.text.match(CAUSE)?.[0] ?? '';
    return terms(given).some((w) => own.has(w)) ? cue * 2 : cue;
  });

  const scoreRun = (from: number, to: number): number => {
    const run = sentences.slice(from, to);
    const union = new Set(run.flatMap((s) => [...s.terms]));
    let base = 0;
    let hits = 0;
    for (const w of asked) {
      if (union.has(w)) {
        base += weight(w) * idf(w);
        hits += weight(w);
      } else if (
        w.length >= 7 &&
        [...union].some((t) => t.length >= 4 && (w.startsWith(t) || w.endsWith(t)))
      ) {
        // A compound asked for ("sandbank") met by one of its parts ("bank of sand").
        base += 0.5 * weight(w) * idf(w);
        hits += 0.5 * weight(w);
      }
    }
    for (const w of contextTerms) if (union.has(w)) base += idf(w) / 3;
    if (base === 0) return 0;
    let score = base * (1 + 0.3 * Math.max(0, hits - 1));
    score /= 1 + 0.1 * Math.log(1 + union.size);
    score /= 1 + 0.15 * (run.length - 1);
    // The kind of answer asked for; for "why", a run that gives no cause hardly answers.
    const cue = Math.max(...cues.slice(from, to));
    if (kind === 'why') score *= cue > 0 ? 1 + cue : 0.35;
    else score *= 1 + cue / 3;
    // A question does not answer a question; what the previous reply said is worth less again.
    if (run.every((s) => /\?["'”’]*$/.test(s.text))) score *= 0.2;
    score *= 1 - (0.7 * run.filter((s) => s.said).length) / run.length;
    return score;
  };

  const runs: { from: number; to: number; score: number }[] = [];
  for (let from = 0; from < n; from++) {
    for (let to = from + 1; to <= Math.min(n, from + 3); to++) {
      if (echo[to - 1] || (to - 1 > from && !follows(sentences[to - 2]!, sentences[to - 1]!)))
        break;
      const score = scoreRun(from, to);
      if (score > 0) runs.push({ from, to, score });
    }
  }
  runs.sort((a, b) => b.score - a.score || a.from - b.from);
  const top = runs[0];
  if (!top) return [];
  const max = o.max ?? 3;
  const chosen = sentences.slice(top.from, top.to);
  for (const r of runs.slice(1)) {
    if (r.score < 0.75 * top.score) break;
    const more = sentences.slice(r.from, r.to);
    if (chosen.length + more.length > max) continue;
    if (r.to >= top.from && r.from <= top.to) continue;
    if (more.some((m) => chosen.some((c) => overlap(c.terms, m.terms) > 0.6))) continue;
    chosen.push(...more);
    break;
  }
  return chosen.sort((a, b) => a.order - b.order);
}

/** One quotation: the book's double quotes become single ones inside it, gaps are marked. */
export function quote(sentences: readonly Sentence[]): string {
  const parts: string[] = [];
  for (const [i, s] of sentences.entries()) {
    const prev = sentences[i - 1];
    if (prev) parts.push(follows(prev, s) ? ' ' : ' … ');
    parts.push(nestQuotes(s.text));
  }
  return `“${parts.join('')}”`;
}

function nestQuotes(text: string): string {
  let open = true;
  return text
    .replace(/“/g, '‘')
    .replace(/”/g, '’')
    .replace(/"/g, () => {
      const mark = open ? '‘' : '’';
      open = !open;
      return mark;
    });
}

/** The sentences of an earlier extractive reply: what is inside its quotation. */
function quotedIn(reply: string): string[] {
  const quotes = [...reply.matchAll(/“([^”]*)”/g)].map((m) => m[1] ?? '');
  return (quotes.length > 0 ? quotes : [reply])
    .flatMap((inner) => inner.split(' … '))
    .flatMap((part) => sentenceSpans(part).map(([a, b]) => part.slice(a, b)))
    .map((s) => s.replace(/[‘’]/g, '"').trim())
    .filter((s) => s.length >= 12);
}

const ABOUT_WHAT_WAS_SAID =
  /\b(you|you've|you have)\s+(just\s+)?(said|say|told|tell|mentioned|mention|quoted|meant|talked)\b|\bwhat was that\b|\bsay (that|it) again\b/i;
const FOLLOW_UP =
  /^(and|but|so|then)\b|\b(tell me more|go on|what else|more about|and then|after that|before that|that|this|it|he|she|they|him|her|them|there)\b/i;

const PRONOUN = /\b(he|she|him|her|his|hers|they|them|their)\b/i;

/** The capitalised words of a question but its first: the names it asks about. */
function namesAskedIn(question: string): string[] {
  return [...question.matchAll(/(?<=\s)\p{Lu}[\p{L}'’-]+/gu)].map((m) =>
    m[0].replace(/['’]s$/, ''),
  );
}

/** A short reply built only from the passages (and, for a follow-up, the previous turns). */
export function composeReply(
  hints: CompletionHints,
  messages: readonly ChatMessage[] = [],
): string {
  const lastUser = messages.findLastIndex((m) => m.role === 'user');
  const question = hints.userMessage ?? messages[lastUser]?.content ?? '';
  const history = messages.slice(0, lastUser < 0 ? messages.length : lastUser);
  const previousReply = history.findLast((m) => m.role === 'assistant')?.content ?? '';
  const previousQuestion = history.findLast((m) => m.role === 'user')?.content ?? '';
  const saidBefore = new Set(quotedIn(previousReply).map(key));

  if (previousReply && ABOUT_WHAT_WAS_SAID.test(question)) {
    const earlier = splitSentences(
      [{ chunkIndex: 0, text: quotedIn(previousReply).join(' ') }],
      new Set(),
    );
    const topic = bestSentences(question, earlier, { max: 3 });
    const said = topic.length > 0 ? topic : earlier.slice(0, 3);
    if (said.length > 0) return `What I said was this: ${quote(said)}`;
  }

  const sentences = splitSentences(hints.passages ?? [], saidBefore);
  // A short or pointing question ("why did he do that?") is read with the previous turn: its
  // names stand for the pronouns, its other words count as context.
  const followUp =
    previousQuestion !== '' && (FOLLOW_UP.test(question) || terms(question).length <= 2);
  const pointedAt = followUp && PRONOUN.test(question) ? namesAskedIn(previousQuestion) : [];
  const context = followUp ? [previousQuestion, ...quotedIn(previousReply)] : [];
  const best = bestSentences(question, sentences, { context, also: pointedAt });
  if (best.length === 0) {
    return (hints.passages?.length ?? 0) === 0
      ? 'The book does not tell me that, so I will not pretend to know it.'
      : 'The pages I remember do not speak of that, and I will not make something up.';
  }
  return `${leadFor(questionKind(question))} ${quote(best)}`;
}

function leadFor(kind: QuestionKind): string {
  switch (kind) {
    case 'said':
      return 'These were the words:';
    case 'why':
      return 'As the book tells it, this is why:';
    default:
      return 'The book puts it this way:';
  }
}
