/**
 * What the rerank could know of each candidate, for `npm run eval -- --learn`: the three scores the
 * rerank adds (`src/chat/rerank.ts`) split into their parts, plus the parts it leaves out, each
 * scaled to [0, 1] over the candidates, so that a fitted linear order can say whether any of them
 * (or other weights) would order the candidates better.
 */
import type { FusedPassage } from '../src/chat/fusion.js';
import { lexicalScores, minMax, toBest } from '../src/chat/rerank.js';
import type { SoftMatcher } from '../src/chat/soft-match.js';
import type { RelatedWords } from '../src/chat/wordnet.js';
import {
  CAUSAL_CONNECTIVE,
  type QuestionKind,
  questionKind,
} from '../src/providers/question-kind.js';
import { sentenceSpans } from '../src/providers/text.js';

export const RERANK_FEATURES = [
  'vector',
  'fused',
  'bm25',
  'bm25Window',
  'softWhole',
  'softWindow',
  'answerCue',
] as const;
export type RerankFeature = (typeof RERANK_FEATURES)[number];

/** Sentences per window, as the soft match's windows. */
const WINDOW_SENTENCES = 3;

/**
 * Words that mark an answer of the kind a question asks for: a reason for `why`, a number for
 * `how many` or `how long`, a time for `when`. Other kinds have none.
 */
const ANSWER_CUES: Partial<Record<QuestionKind, RegExp>> = {
  why: CAUSAL_CONNECTIVE,
  'how-many':
    /\b(\d+|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|dozen|half|twice)\b/i,
  when: /\b(\d+|o['’]clock|midnight|noon|dawn|dusk|morning|evening|afternoon|night|monday|tuesday|wednesday|thursday|friday|saturday|sunday|january|february|march|april|may|june|july|august|september|october|november|december|spring|summer|autumn|winter|yesterday|tomorrow|tonight|hour|week|month|year)s?\b/i,
};

/** Windows of `WINDOW_SENTENCES` consecutive sentences of `text` (the whole of a shorter text). */
function windowsOf(text: string): string[] {
  const spans = sentenceSpans(text);
  if (spans.length <= WINDOW_SENTENCES) return [text];
  const out: string[] = [];
  for (let i = 0; i + WINDOW_SENTENCES <= spans.length; i++) {
    out.push(text.slice(spans[i]![0], spans[i + WINDOW_SENTENCES - 1]![1]));
  }
  return out;
}

/**
 * Each candidate's features:
 *
 * - `vector`: the vector search's cosine, min-max scaled, the list's lowest for a passage it did
 *   not return (as the rerank's); `fused`: the RRF score, min-max scaled;
 * - `bm25`, `bm25Window`: BM25 with WordNet's related words of the passage, and of its best window
 *   of three sentences (scored against all the candidates' windows), divided by the best;
 * - `softWhole`, `softWindow`: the soft word match's two parts (`SoftMatcher.parts`), divided by
 *   the best;
 * - `answerCue`: for a question asking why, how many or when, the best window match (the mean of
 *   its BM25 and soft scores) among the windows holding a word of that kind of answer; else 0.
 */
export function rerankFeatures(
  question: string,
  query: string,
  fused: readonly FusedPassage[],
  related: RelatedWords | null,
  options: { vectorScores: ReadonlyMap<number, number>; softMatch: SoftMatcher },
): Record<RerankFeature, number>[] {
  if (fused.length === 0) return [];
  const soft = options.softMatch;
  const texts = fused.map((p) => p.chunk.text);
  const windows = texts.map((t) => windowsOf(t));
  const flat = windows.flat();
  const owner = windows.flatMap((ws, i) => ws.map(() => i));
  const bm25 = toBest(lexicalScores(query, texts, related));
  const windowBm25 = toBest(lexicalScores(query, flat, related));
  const whole = toBest(soft.parts(query, texts, related).map((p) => p.whole));
  const windowSoft = toBest(soft.parts(query, flat, related).map((p) => p.whole));
  const cosines = options.vectorScores;
  const lowest = Math.min(...cosines.values());
  const vector = minMax(fused.map((p) => cosines.get(p.chunk.chunk_index) ?? lowest));
  const fusedScore = minMax(fused.map((p) => p.score));
  const cue = ANSWER_CUES[questionKind(question)];
  const best = texts.map(() => ({ bm25Window: 0, softWindow: 0, answerCue: 0 }));
  flat.forEach((w, j) => {
    const f = best[owner[j]!]!;
    const b = windowBm25[j]!;
    const s = windowSoft[j]!;
    f.bm25Window = Math.max(f.bm25Window, b);
    f.softWindow = Math.max(f.softWindow, s);
    if (cue?.test(w)) f.answerCue = Math.max(f.answerCue, (b + s) / 2);
  });
  return fused.map((_, i) => ({
    vector: vector[i]!,
    fused: fusedScore[i]!,
    bm25: bm25[i]!,
    softWhole: whole[i]!,
    ...best[i]!,
  }));
}
