/**
 * Section 9: how the pure CPU steps scale with their input, as ratios in the same run. Token
 * counting of long runs without spaces (which exact BPE merges in quadratic time) and chunking a
 * book are each timed on an input and on one ten times larger; a linear step takes about 10× as
 * long, a quadratic one about 100×. These were timed assertions in the tests; here they are
 * measured, as every speed figure of the project is.
 */
import { countTokens } from '../src/chat/prompt.js';
import { chunkText } from '../src/ingest/chunker.js';

export interface ScalingRow {
  step: string;
  smallChars: number;
  largeChars: number;
  smallMs: number;
  largeMs: number;
  /** largeMs / smallMs: about the size ratio (10) when linear, its square (100) when quadratic. */
  timeRatio: number;
}

/** Best of `runs` timings of `fn`, in milliseconds (the least disturbed by the shared machine). */
function bestMs(fn: () => unknown, runs = 5): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

function paragraphs(chars: number): string {
  const words = 'the keeper trimmed wick lens oil tower storm sea night salt hollow'.split(' ');
  const out: string[] = [];
  let length = 0;
  for (let i = 0; length < chars; i++) {
    const p = i % 20 === 0 ? `# Chapter ${i / 20 + 1}` : sentence(words, i);
    out.push(p);
    length += p.length + 2;
  }
  return out.join('\n\n').slice(0, chars);
}

function sentence(words: string[], seed: number): string {
  const parts: string[] = [];
  for (let s = 0; s < 6; s++) {
    const w = Array.from({ length: 12 }, (_, k) => words[(seed * 7 + s * 3 + k) % words.length]);
    parts.push(`${w.join(' ')}.`);
  }
  return parts.join(' ');
}

export function runScaling(): ScalingRow[] {
  const rows: ScalingRow[] = [];
  const measure = (
    step: string,
    make: (chars: number) => string,
    small: number,
    run: (t: string) => unknown,
  ) => {
    const a = make(small);
    const b = make(small * 10);
    run(b); // warm the code paths
    const smallMs = bestMs(() => run(a));
    const largeMs = bestMs(() => run(b));
    rows.push({
      step,
      smallChars: a.length,
      largeChars: b.length,
      smallMs,
      largeMs,
      timeRatio: largeMs / Math.max(smallMs, 1e-3),
    });
  };
  for (const [name, unit] of [
    ['Chinese', '灯'],
    ['emoji', '🕯'],
    ['letters', 'w'],
    ['punctuation', '!'],
  ] as const) {
    measure(`countTokens, a run of ${name}`, (n) => unit.repeat(n), 400, countTokens);
  }
  measure('countTokens, prose', paragraphs, 4_000, countTokens);
  measure('chunkText, a book', paragraphs, 100_000, (t) => chunkText(t));
  return rows;
}
