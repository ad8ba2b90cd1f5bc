import type { ZodType } from 'zod';
import { contentWords, sentenceSpans } from './text.js';
import {
  type ChatMessage,
  type CompletionHints,
  type CompletionRequest,
  type Llm,
  LlmOutputError,
} from './types.js';

/**
 * The offline fallback model, used when no LLM is configured or reachable. It is deterministic and
 * invents nothing: a `reply` quotes the passage sentences that share the most words with the
 * reader's message, in the character's first person; a `summary` is extractive (the most central
 * sentences, in their order); a `rewrite` returns the message itself. It cannot produce JSON:
 * `completeJson` always throws LlmOutputError, and callers fall back to their own algorithms.
 */
export class LocalLlm implements Llm {
  readonly kind = 'local' as const;

  async complete(request: CompletionRequest): Promise<string> {
    request.signal?.throwIfAborted();
    return answer(request);
  }

  async *stream(request: CompletionRequest): AsyncGenerator<string> {
    request.signal?.throwIfAborted();
    const text = answer(request);
    for (const piece of text.match(/\S+\s*/g) ?? []) {
      request.signal?.throwIfAborted();
      yield piece;
    }
  }

  async completeJson<T>(_request: CompletionRequest, _schema: ZodType<T>): Promise<T> {
    throw new LlmOutputError('the offline model does not produce JSON; use the deterministic path');
  }
}

function answer(request: CompletionRequest): string {
  const hints = request.hints ?? {};
  const task = hints.task ?? (hints.passages ? 'reply' : undefined);
  switch (task) {
    case 'reply':
      return composeReply(hints, request.messages);
    case 'summary':
      return summarize(
        request.messages
          .filter((m) => m.role !== 'system')
          .map((m) => m.content)
          .join('\n'),
      );
    case 'rewrite':
      return hints.userMessage ?? lastUserMessage(request.messages) ?? '';
    default:
      throw new LlmOutputError(`the offline model cannot do the task ${task ?? '(none)'}`);
  }
}

function lastUserMessage(messages: readonly ChatMessage[]): string | undefined {
  return messages.findLast((m) => m.role === 'user')?.content;
}

interface Scored {
  text: string;
  score: number;
  order: number;
}

/** A short first-person reply built only from passage sentences that overlap the question. */
export function composeReply(
  hints: CompletionHints,
  messages: readonly ChatMessage[] = [],
): string {
  const question = hints.userMessage ?? lastUserMessage(messages) ?? '';
  const asked = new Set(contentWords(question));
  const name = hints.characterName?.trim();
  const sentences: Scored[] = [];
  let order = 0;
  for (const passage of hints.passages ?? []) {
    // Chapter headings are not something the character says: blank them out (same length).
    const body = passage.text.replace(/^#{1,6}[ \t].*$/gm, (line) => ' '.repeat(line.length));
    for (const [start, end] of sentenceSpans(body)) {
      const text = body.slice(start, end).replace(/\s+/g, ' ').trim();
      if (text.length < 12) continue;
      const seen = new Set(contentWords(text));
      let score = 0;
      for (const word of seen) if (asked.has(word)) score++;
      sentences.push({ text, score: score / Math.sqrt(seen.size + 1), order: order++ });
    }
  }
  const best = sentences
    .filter((s) => s.score > 0)
    .sort((a, b) => b.score - a.score || a.order - b.order)
    .slice(0, 2)
    .sort((a, b) => a.order - b.order);
  const opening = name ? `I am ${name}, and I can only tell you what my story holds.` : '';
  if (best.length === 0) {
    const none =
      (hints.passages?.length ?? 0) === 0
        ? 'The book does not tell me that, so I will not pretend to know it.'
        : 'The pages I remember do not speak of that, and I will not make something up.';
    return [opening, none].filter(Boolean).join(' ');
  }
  const lead = pick(question, [
    'This is how I remember it:',
    'Let me tell you what I recall.',
    'I remember it well.',
  ]);
  const quoted = best.map((s) => `“${s.text}”`).join(' And later: ');
  return [opening, lead, quoted].filter(Boolean).join(' ');
}

/** The most central sentences of `text` (by shared content words), in their original order. */
export function summarize(text: string, maxChars = 600): string {
  const spans = sentenceSpans(text);
  if (spans.length === 0) return '';
  const frequency = new Map<string, number>();
  const bags = spans.map(([start, end]) => {
    const bag = new Set(contentWords(text.slice(start, end)));
    for (const word of bag) frequency.set(word, (frequency.get(word) ?? 0) + 1);
    return bag;
  });
  const ranked = spans
    .map(([start, end], order) => {
      const bag = bags[order]!;
      let score = 0;
      for (const word of bag) score += frequency.get(word) ?? 0;
      return {
        text: text.slice(start, end).replace(/\s+/g, ' '),
        order,
        score: score / (bag.size + 3),
      };
    })
    .sort((a, b) => b.score - a.score || a.order - b.order);
  const chosen: typeof ranked = [];
  let length = 0;
  for (const sentence of ranked) {
    if (chosen.length > 0 && length + sentence.text.length + 1 > maxChars) continue;
    chosen.push(sentence);
    length += sentence.text.length + 1;
  }
  return chosen
    .sort((a, b) => a.order - b.order)
    .map((s) => (s.text.length > maxChars ? `${s.text.slice(0, maxChars - 1)}…` : s.text))
    .join(' ');
}

function pick(seed: string, options: readonly string[]): string {
  let h = 0;
  for (let i = 0; i < seed.length; i++) h = (h * 31 + seed.charCodeAt(i)) >>> 0;
  return options[h % options.length] ?? options[0] ?? '';
}
