import type { Plugin } from 'graphql-yoga';
import { requestError } from './errors.js';

const STREAM_MEDIA =
  /(^|[,\s])(text\/event-stream|multipart\/mixed|multipart\/\*|text\/\*|\*\/\*)/i;

/**
 * A subscription answers as a stream (SSE, `text/event-stream`, or `multipart/mixed`): sent with
 * an Accept that allows neither (a plain `application/json` POST), it is refused before it runs
 * with 406 NOT_ACCEPTABLE and a body saying why, instead of running and then answering an empty
 * 406.
 */
export function useSubscriptionAccept(): Plugin<{ request: Request }> {
  return {
    onSubscribe({ args, setResultAndStopExecution }) {
      const accept = args.contextValue.request.headers.get('accept');
      if (accept === null || STREAM_MEDIA.test(accept)) return;
      setResultAndStopExecution({
        errors: [
          requestError(
            'NOT_ACCEPTABLE',
            'Subscriptions answer as a stream: send Accept: text/event-stream (or multipart/mixed)',
          ),
        ],
      });
    },
  };
}
