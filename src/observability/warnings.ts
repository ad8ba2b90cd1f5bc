import type { ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { isAsyncIterable } from '../util/async-iterable.js';

/** A half of the hybrid search (`HybridRetriever`). */
export type Retriever = 'vector' | 'keyword';

/** Something the client should know about a response that is otherwise a success. */
export interface ResponseWarning {
  /** Stable: `SEARCH_DEGRADED`. */
  code: 'SEARCH_DEGRADED';
  message: string;
  /** The retrievers whose results are missing from the passages. */
  unavailable: Retriever[];
}

const RETRIEVER_NAMES: Record<Retriever, string> = {
  vector: 'The vector search',
  keyword: 'The keyword search',
};

/**
 * The warnings of one request: services add them (one search half failed, say), and
 * `useResponseWarnings` puts them under the response's `extensions.warnings`, each once, on the
 * next result that leaves (for a stream: the next event). `onSearchDegraded` sees every degraded
 * search as it happens, for the metrics.
 */
export class ResponseWarnings {
  private pending: ResponseWarning[] = [];

  constructor(private readonly onSearchDegraded: (unavailable: Retriever) => void = () => {}) {}

  /** A search answered without the `unavailable` retrievers' results. */
  searchDegraded(unavailable: readonly Retriever[]): void {
    if (unavailable.length === 0) return;
    for (const r of unavailable) this.onSearchDegraded(r);
    const sorted = [...unavailable].sort();
    const key = sorted.join(',');
    if (this.pending.some((w) => w.unavailable.join(',') === key)) return;
    this.pending.push({
      code: 'SEARCH_DEGRADED',
      message: `${sorted.map((r) => RETRIEVER_NAMES[r]).join(' and ')} did not answer; the passages come from the other alone and may miss some`,
      unavailable: sorted,
    });
  }

  /** The warnings not yet sent, now counted as sent. */
  take(): ResponseWarning[] {
    const out = this.pending;
    this.pending = [];
    return out;
  }
}

/** What the warnings plugin needs of a request's context. */
interface WarningsContext {
  warnings?: ResponseWarnings;
}

/** Adds the request's pending warnings to each result as it leaves (`extensions.warnings`). */
export function useResponseWarnings(): Plugin<WarningsContext> {
  const attach = (ctx: WarningsContext, result: ExecutionResult): ExecutionResult | null => {
    const warnings = ctx.warnings?.take() ?? [];
    if (warnings.length === 0) return null;
    const given = (result.extensions as { warnings?: ResponseWarning[] } | undefined)?.warnings;
    return {
      ...result,
      extensions: { ...result.extensions, warnings: [...(given ?? []), ...warnings] },
    };
  };
  // A single result gets the warnings now; a stream, on its next event.
  const done =
    (ctx: WarningsContext) =>
    ({
      result,
      setResult,
    }: {
      result: ExecutionResult | AsyncIterable<ExecutionResult>;
      setResult: (r: ExecutionResult) => void;
    }) => {
      if (isAsyncIterable(result)) {
        return {
          onNext(next: { result: ExecutionResult; setResult: (r: ExecutionResult) => void }) {
            const withWarnings = attach(ctx, next.result);
            if (withWarnings) next.setResult(withWarnings);
          },
        };
      }
      const withWarnings = attach(ctx, result);
      if (withWarnings) setResult(withWarnings);
      return undefined;
    };
  return {
    onExecute: ({ args }) => ({ onExecuteDone: done(args.contextValue) }),
    onSubscribe: ({ args }) => ({ onSubscribeResult: done(args.contextValue) }),
  };
}
