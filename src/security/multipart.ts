import type { Plugin } from 'graphql-yoga';
import type { Context } from '../context.js';
import { rootFields, selectOperation } from '../observability/operation.js';
import { requestError } from './errors.js';

/** The only root fields a GraphQL multipart request may run. */
const MULTIPART_FIELDS = new Set(['createBook']);

export function isMultipart(request: Request): boolean {
  return /^multipart\/form-data\b/i.test(request.headers.get('content-type') ?? '');
}

/**
 * GraphQL multipart requests (file uploads) are for `createBook` alone: any other operation sent
 * as multipart, or one that selects anything else beside it, is refused before execution with
 * UNSUPPORTED_MEDIA_TYPE (415), touching no store. CSRF prevention still applies to them (a
 * multipart form needs the CSRF header or Authorization), and so does the body limit (raised for
 * them to the upload limit).
 */
export function useMultipartOnlyForUploads(): Plugin<Context> {
  const refusal = () =>
    requestError(
      'UNSUPPORTED_MEDIA_TYPE',
      `Multipart requests are for ${[...MULTIPART_FIELDS].join(', ')} only; send other operations as application/json`,
    );
  const allowed = (
    request: Request,
    document: Parameters<typeof selectOperation>[0],
    name?: string | null,
  ) => {
    if (!isMultipart(request)) return true;
    const op = selectOperation(document, name);
    if (op?.operation !== 'mutation') return false;
    const fields = rootFields(document, op);
    return fields.length > 0 && fields.every((f) => MULTIPART_FIELDS.has(f));
  };
  return {
    onExecute({ args, setResultAndStopExecution }) {
      if (allowed(args.contextValue.request, args.document, args.operationName)) return;
      setResultAndStopExecution({ errors: [refusal()] });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      if (!isMultipart(args.contextValue.request)) return;
      setResultAndStopExecution({ errors: [refusal()] });
    },
  };
}
