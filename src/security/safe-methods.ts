import type { Plugin } from 'graphql-yoga';
import type { Context } from '../context.js';
import { rootFields, selectOperation } from '../observability/operation.js';
import { requestError } from './errors.js';

/** Subscription fields that write (a streamed chat turn saves both messages). */
export const WRITING_SUBSCRIPTION_FIELDS = new Set(['sendMessageStream']);

/**
 * GET is for reads: as yoga refuses mutations over GET, a subscription that writes is refused
 * over GET with BAD_REQUEST (HTTP 405, `Allow: POST`) before it runs, saving nothing. A
 * subscription that only reads (`bookProcessing`) may still use GET (EventSource).
 */
export function useNoWritesOverGet(): Plugin<Context> {
  return {
    onSubscribe({ args, setResultAndStopExecution }) {
      if (args.contextValue.request.method.toUpperCase() !== 'GET') return;
      const op = selectOperation(args.document, args.operationName);
      if (op?.operation !== 'subscription') return;
      const writing = rootFields(args.document, op).filter((f) =>
        WRITING_SUBSCRIPTION_FIELDS.has(f),
      );
      if (writing.length === 0) return;
      setResultAndStopExecution({
        errors: [
          requestError(
            'BAD_REQUEST',
            `${writing.join(', ')} writes and cannot be sent over GET: send it as a POST`,
            { http: { status: 405, headers: { allow: 'POST' } } },
          ),
        ],
      });
    },
  };
}
