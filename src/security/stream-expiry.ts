/**
 * A running subscription lives no longer than the access token it was started with: at the
 * token's `exp` the stream sends one last event, `UNAUTHENTICATED` ("The access token has
 * expired..."), and ends; the resolver's own stream is closed as when the client goes away.
 * Every transport runs its operations through yoga (SSE, multipart, graphql-ws), so this one
 * wrapper ends them all. A stream whose token is still valid is passed through untouched.
 */
import type { ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { AUTH_MESSAGES } from '../auth.js';
import type { Context } from '../context.js';
import { AppError } from '../errors.js';
import { isAsyncIterable } from '../util/async-iterable.js';

export function useStreamsEndAtTokenExpiry(): Plugin<Context> {
  return {
    onSubscribe({ args }) {
      const expiresAt = args.contextValue.accessTokenExpiresAt;
      if (expiresAt === null) return;
      return {
        onSubscribeResult({ result, setResult }) {
          if (!isAsyncIterable<ExecutionResult>(result)) return;
          setResult(endingAt(result, expiresAt));
        },
      };
    },
  };
}

const expired = (): ExecutionResult => ({
  errors: [
    new AppError('UNAUTHENTICATED', AUTH_MESSAGES.expired, { details: { reason: 'expired' } }),
  ],
});

/**
 * The events of `source` until `at` (epoch ms): then the expiry error, and the end. A `return()`
 * from the consumer (the client went away) goes to the source at once, even while an event is
 * awaited.
 */
function endingAt(
  source: AsyncIterable<ExecutionResult>,
  at: number,
): AsyncIterableIterator<ExecutionResult> {
  const inner = source[Symbol.asyncIterator]();
  let state: 'open' | 'expired' | 'done' = 'open';
  let timer: ReturnType<typeof setTimeout> | undefined;
  let fire: (() => void) | undefined;
  const expiry = new Promise<'expired'>((resolve) => {
    fire = () => resolve('expired');
  });
  const arm = () => {
    const wait = at - Date.now();
    if (wait <= 0) return fire?.();
    // setTimeout takes at most 2^31-1 ms; a longer wait re-arms when it runs out.
    timer = setTimeout(arm, Math.min(wait, 2_147_483_647));
    timer.unref?.();
  };
  arm();
  const close = async () => {
    if (timer) clearTimeout(timer);
    fire?.();
    await inner.return?.().catch(() => undefined);
  };
  const iterator: AsyncIterableIterator<ExecutionResult> = {
    async next() {
      if (state === 'done') return { done: true, value: undefined };
      if (state === 'expired') {
        state = 'done';
        return { done: true, value: undefined };
      }
      const step = await Promise.race([inner.next(), expiry]);
      if (step === 'expired') {
        if (state !== 'open') return { done: true, value: undefined };
        state = 'expired';
        void close();
        return { done: false, value: expired() };
      }
      if (step.done) {
        state = 'done';
        if (timer) clearTimeout(timer);
      }
      return step;
    },
    async return() {
      state = 'done';
      await close();
      return { done: true, value: undefined };
    },
    async throw(error?: unknown) {
      state = 'done';
      if (timer) clearTimeout(timer);
      if (inner.throw) return inner.throw(error);
      throw error;
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
