import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Logger } from '../logger.js';
import { contentWords, STOPWORDS } from '../providers/text.js';
import { type Llm, LlmOutputError } from '../providers/types.js';
import type { StoreCallCounter } from '../stores/metrics.js';
import type { RedisClient } from '../stores/redis.js';

const rewrittenQueries = z.object({
  narrative: z.string().trim().min(1).max(2000),
  keyword: z.string().trim().min(1).max(500),
});
type RewrittenQueries = z.infer<typeof rewrittenQueries>;

const normalise = (s: string) => s.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();

function rewriteHash(
  message: string,
  recent: readonly { role: string; content: string }[],
): string {
  const input = JSON.stringify({
    message: normalise(message),
    recent: recent.map((m) => [m.role, normalise(m.content)]),
  });
  return createHash('sha256').update(input).digest('hex');
}

const rewriteKey = (characterId: string, hash: string) => `chat:qr:${characterId}:${hash}`;

const POINTING = /\b(he|she|him|her|his|hers|they|them|their)\b/i;

/** The capitalised words of `text` that are not stopwords (its names, mostly), lowercased. */
function namesIn(text: string): string[] {
  return [...text.matchAll(/\p{Lu}[\p{L}'’-]*/gu)]
    .map((m) => m[0].toLowerCase())
    .filter((w) => w.length > 1 && !STOPWORDS.has(w));
}

/** The deterministic rewrite: the message with the last reader turn as narrative context. */
export function fallbackRewrite(
  message: string,
  recent: readonly { role: string; content: string }[],
): RewrittenQueries {
  const previous = recent.findLast((m) => m.role === 'user')?.content ?? '';
  const narrative = [previous, message].filter(Boolean).join(' ').slice(0, 2000).trim() || message;
  // A message that points back ("why did he come?") is about whoever the previous one named, so
  // those names join its keywords; a message with no content word takes the previous one's.
  const named = POINTING.test(message) ? namesIn(previous) : [];
  const words = [...new Set([...named, ...contentWords(message)])];
  const keyword = (words.length > 0 ? words : [...new Set(contentWords(previous))])
    .slice(0, 12)
    .join(' ');
  return { narrative, keyword: keyword || message.slice(0, 500) };
}

/**
 * Rewrites a reader's message (with the recent turns) into a narrative query for the vectors and a
 * keyword query for Typesense, as validated JSON from the model; invalid output falls back to a
 * deterministic rewrite instead of failing the turn. Cached at `chat:qr:{character_id}:{hash}`
 * (EX 3600), hash = SHA-256 of the normalised inputs.
 */
export class QueryRewriter {
  constructor(
    private readonly deps: {
      redis: RedisClient;
      counter: StoreCallCounter;
      llm: Llm;
      logger: Logger;
      ttlSeconds: number;
    },
  ) {}

  async rewrite(
    characterId: string,
    characterName: string,
    message: string,
    recent: readonly { role: string; content: string }[],
  ): Promise<RewrittenQueries> {
    const { redis, counter, llm, logger, ttlSeconds } = this.deps;
    const key = rewriteKey(characterId, rewriteHash(message, recent.slice(-4)));
    try {
      const raw = await counter.time('redis', 'get', () => redis.get(key));
      if (raw) {
        const hit = rewrittenQueries.safeParse(JSON.parse(raw));
        if (hit.success) return hit.data;
      }
    } catch (err) {
      logger.warn({ err: String(err) }, 'query rewrite cache read failed');
    }
    let queries: RewrittenQueries;
    if (llm.kind === 'local') {
      queries = fallbackRewrite(message, recent);
    } else {
      try {
        queries = await counter.time('llm', 'rewrite', () =>
          llm.completeJson(
            {
              messages: [
                {
                  role: 'system',
                  content:
                    `A reader is talking with ${characterName}, a character of a book. Rewrite the reader's last message ` +
                    'into two search queries over the book\'s text. Answer one JSON object: {"narrative": a sentence ' +
                    'describing the scene or facts to find, resolved against the recent turns (for semantic search), ' +
                    '"keyword": 3 to 8 distinctive words or names (for keyword search)}.',
                },
                ...recent.slice(-4).map((m) => ({
                  role: m.role === 'assistant' ? ('assistant' as const) : ('user' as const),
                  content: m.content,
                })),
                { role: 'user', content: message },
              ],
              temperature: 0,
              maxTokens: 200,
              hints: { task: 'rewrite', userMessage: message },
            },
            rewrittenQueries,
          ),
        );
      } catch (err) {
        if (!(err instanceof LlmOutputError)) {
          logger.warn(
            { err: String(err) },
            'query rewrite failed; using the deterministic rewrite',
          );
        }
        queries = fallbackRewrite(message, recent);
      }
    }
    // The cache write goes out once the caller has started retrieval, which does not need it.
    setImmediate(() => {
      counter
        .time('redis', 'set', () => redis.set(key, JSON.stringify(queries), 'EX', ttlSeconds))
        .catch((err) => logger.warn({ err: String(err) }, 'query rewrite cache write failed'));
    });
    return queries;
  }
}
