/**
 * Per-viewer rate limits in Redis, so they hold across instances: a fixed window per viewer and
 * bucket, `ratelimit:{bucket}:{viewer_id}`, taken from atomically by a script before execution,
 * once per occurrence of a limited root field (aliases do not get around it); the window starts at
 * its first hit. An attempt that does not fit takes nothing and is refused before execution with
 * RATE_LIMITED (HTTP 429, `Retry-After` and `extensions.retryAfter` in seconds). An attempt that
 * ends in an error of the caller's making before any model is called (bad input, not found,
 * forbidden, not ready, session busy) is given back, the key deleted if it drops to zero: a typo
 * costs no quota and a refused request leaves Redis as it was. If Redis cannot be reached, the
 * buckets whose calls cost model calls (messages: the chat model; processBook: the embeddings of
 * a whole book; search: the query's embedding, both retrievers and the rerank) fail closed:
 * SERVICE_UNAVAILABLE (HTTP 503, retryable) before execution. The others (sessions: one row) fail
 * open, logged. `searchBook` is the one limited query: it is never answered from a cache, and
 * every call embeds the query (an embedding model's call with `EMBEDDING_PROVIDER=openai`).
 */
import { type ExecutionResult, GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Config } from '../config.js';
import type { Context } from '../context.js';
import type { Logger } from '../logger.js';
import { rootFields, selectOperation } from '../observability/operation.js';
import type { StoreCallCounter } from '../stores/metrics.js';
import type { RedisClient } from '../stores/redis.js';
import { isAsyncIterable } from '../util/async-iterable.js';
import { requestError } from './errors.js';

type RateBucket = 'messages' | 'sessions' | 'processBook' | 'search';

const RATE_LIMITED_FIELDS: Record<string, RateBucket> = {
  sendMessage: 'messages',
  sendMessageStream: 'messages',
  createChatSession: 'sessions',
  processBook: 'processBook',
  createBook: 'processBook',
  searchBook: 'search',
};

const rateLimitKey = (bucket: RateBucket, viewerId: string) => `ratelimit:${bucket}:${viewerId}`;

// Takes `amount` if it fits under the limit (a refused attempt takes nothing: the window, which
// started at its first hit, is not extended). Returns {taken, count, ttl}.
const CONSUME = `
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
local amount = tonumber(ARGV[2])
if count + amount > tonumber(ARGV[3]) then
  return {0, count, redis.call('PTTL', KEYS[1])}
end
count = redis.call('INCRBY', KEYS[1], amount)
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {1, count, ttl}`;

const REFUND = `
local n = redis.call('DECRBY', KEYS[1], ARGV[1])
if n <= 0 then redis.call('DEL', KEYS[1]) end
return n`;

/** Buckets refused while their limit cannot be checked: each call costs model calls. */
const FAIL_CLOSED_BUCKETS: ReadonlySet<RateBucket> = new Set(['messages', 'processBook', 'search']);

/** Errors after which the attempt is given back: nothing costly ran. */
const REFUNDED_CODES = new Set([
  'BAD_USER_INPUT',
  'NOT_FOUND',
  'FORBIDDEN',
  'FAILED_PRECONDITION',
  'SESSION_BUSY',
  'UNAUTHENTICATED',
  'FILE_TOO_LARGE',
  'UNSUPPORTED_FILE_TYPE',
  'UNREADABLE_FILE',
]);

interface RateDecision {
  allowed: boolean;
  count: number;
  limit: number;
  retryAfterSeconds: number;
}

export class RateLimiter {
  constructor(
    private readonly redis: RedisClient,
    private readonly counter: StoreCallCounter,
    private readonly settings: NonNullable<Config['security']['rateLimit']>,
  ) {}

  limitOf(bucket: RateBucket): number {
    return this.settings[bucket];
  }

  async consume(bucket: RateBucket, viewerId: string, amount = 1): Promise<RateDecision> {
    const windowMs = this.settings.windowSeconds * 1000;
    const limit = this.limitOf(bucket);
    const reply = (await this.counter.time('redis', 'eval', () =>
      this.redis.eval(CONSUME, 1, rateLimitKey(bucket, viewerId), windowMs, amount, limit),
    )) as [number, number, number];
    const [taken, count, ttl] = reply;
    return {
      allowed: taken === 1,
      count,
      limit,
      retryAfterSeconds: Math.max(1, Math.ceil((ttl > 0 ? ttl : windowMs) / 1000)),
    };
  }

  async refund(bucket: RateBucket, viewerId: string, amount = 1): Promise<void> {
    await this.counter.time('redis', 'eval', () =>
      this.redis.eval(REFUND, 1, rateLimitKey(bucket, viewerId), amount),
    );
  }
}

export function useRateLimit(
  limiter: RateLimiter,
  logger: Logger,
  onLimited?: (bucket: RateBucket) => void,
): Plugin<Context> {
  type Charged = { viewerId: string; buckets: Map<RateBucket, number> };
  const charge = async (args: {
    document: Parameters<typeof selectOperation>[0];
    operationName?: string | null | undefined;
    contextValue: Context;
  }): Promise<{ error: GraphQLError } | { charged: Charged } | null> => {
    const viewer = args.contextValue.viewer;
    if (!viewer) return null;
    const operation = selectOperation(args.document, args.operationName);
    if (!operation) return null;
    const wanted = new Map<RateBucket, number>();
    for (const field of rootFields(args.document, operation)) {
      const bucket = RATE_LIMITED_FIELDS[field];
      if (bucket) wanted.set(bucket, (wanted.get(bucket) ?? 0) + 1);
    }
    const charged: Charged = { viewerId: viewer.id, buckets: new Map() };
    for (const [bucket, amount] of wanted) {
      let decision: RateDecision;
      try {
        decision = await limiter.consume(bucket, viewer.id, amount);
      } catch (err) {
        if (!FAIL_CLOSED_BUCKETS.has(bucket)) {
          logger.warn({ err: String(err), bucket }, 'rate limit not checked: Redis unavailable');
          continue;
        }
        logger.warn({ err: String(err), bucket }, 'refused: rate limit cannot be checked');
        await refund(charged);
        return {
          error: requestError(
            'SERVICE_UNAVAILABLE',
            'The rate limit cannot be checked right now; try again shortly',
            { retryable: true, bucket },
          ),
        };
      }
      if (decision.allowed) {
        charged.buckets.set(bucket, amount);
        continue;
      }
      onLimited?.(bucket);
      // Refused: nothing was taken from this bucket; give back what other buckets took.
      await refund(charged);
      const retryAfter = decision.retryAfterSeconds;
      return {
        error: requestError(
          'RATE_LIMITED',
          `Too many requests: at most ${decision.limit} per window for this kind of request; retry in ${retryAfter} s`,
          {
            retryable: true,
            retryAfter,
            bucket,
            http: { status: 429, headers: { 'retry-after': String(retryAfter) } },
          },
        ),
      };
    }
    return charged.buckets.size > 0 ? { charged } : null;
  };
  const refund = async (charged: Charged) => {
    for (const [bucket, amount] of charged.buckets) {
      await limiter.refund(bucket, charged.viewerId, amount).catch((err: unknown) => {
        logger.warn({ err: String(err), bucket }, 'rate limit refund failed');
      });
    }
    charged.buckets.clear();
  };
  /** Gives the attempt back when the result is only errors the caller made. */
  const settle = async (charged: Charged, result: ExecutionResult) => {
    const errors = result.errors ?? [];
    if (errors.length === 0) return;
    const data = result.data as Record<string, unknown> | null | undefined;
    const anyData = data ? Object.values(data).some((v) => v !== null) : false;
    if (anyData) return;
    if (errors.every((e) => REFUNDED_CODES.has(String(e.extensions?.code)))) await refund(charged);
  };
  return {
    async onExecute({ args, setResultAndStopExecution }) {
      const outcome = await charge(args);
      if (!outcome) return;
      if ('error' in outcome) {
        setResultAndStopExecution({ errors: [outcome.error] });
        return;
      }
      return {
        async onExecuteDone({ result }) {
          if (!isAsyncIterable(result)) await settle(outcome.charged, result);
        },
      };
    },
    async onSubscribe({ args, setResultAndStopExecution }) {
      const outcome = await charge(args);
      if (!outcome) return;
      if ('error' in outcome) {
        setResultAndStopExecution({ errors: [outcome.error] });
        return;
      }
      return {
        onSubscribeResult({ result, setResult }) {
          if (!isAsyncIterable(result)) {
            void settle(outcome.charged, result);
            return;
          }
          // A turn that fails before its first event ends the stream with its error (thrown, or
          // as an error event): settle on whichever comes first.
          setResult(settleFirst(result, (r) => settle(outcome.charged, r)));
        },
      };
    },
  };
}

async function* settleFirst(
  source: AsyncIterable<ExecutionResult>,
  settle: (result: ExecutionResult) => Promise<void>,
): AsyncGenerator<ExecutionResult> {
  let first = true;
  try {
    for await (const event of source) {
      if (first) {
        first = false;
        await settle(event);
      }
      yield event;
    }
  } catch (err) {
    if (first && err instanceof GraphQLError) await settle({ errors: [err] });
    throw err;
  }
}
