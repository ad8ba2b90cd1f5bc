import { setTimeout as sleep } from 'node:timers/promises';
import type { ZodType } from 'zod';
import { composeReply } from './extractive-reply.js';
import { contentWords, sentenceSpans } from './text.js';
import { type ChatMessage, type CompletionRequest, type Llm, LlmOutputError } from './types.js';

/**
 * The offline fallback model, used when no LLM is configured or reachable. It is deterministic and
 * invents nothing: a `reply` quotes the passage sentences that best answer the reader's message
 * (src/providers/extractive-reply.ts); a `summary` is extractive (the most central sentences, in
 * their order); a `rewrite` returns the message itself. `stream` yields the reply word by word,
 * waiting `streamDelayMs` between words when the request is `paced` (a reader is watching), so a
 * streamed reply arrives at a reading pace as a model's would. It cannot produce JSON:
 * `completeJson` always throws LlmOutputError, and callers fall back to their own algorithms.
 */
export class LocalLlm implements Llm {
  readonly kind = 'local' as const;

  constructor(private readonly options: { streamDelayMs?: number } = {}) {}

  async complete(request: CompletionRequest): Promise<string> {
    request.signal?.throwIfAborted();
    return answer(request);
  }

  async *stream(request: CompletionRequest): AsyncGenerator<string> {
    request.signal?.throwIfAborted();
    const text = answer(request);
    const paced = request.hints?.paced === true;
    const delay = this.options.streamDelayMs ?? 0;
    let first = true;
    for (const piece of text.match(/\S+\s*/g) ?? []) {
      // Between words, not before the first: a paced stream yields to the event loop each time,
      // so every word leaves as its own event even with no delay.
      if (paced && !first) await sleep(delay, undefined, { ref: false });
      first = false;
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
