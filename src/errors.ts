import { GraphQLError, type GraphQLSchema, isObjectType } from 'graphql';
import {
  Conflict,
  InvalidValue,
  MissingReference,
  NotFound,
  StoreError,
  StoreUnavailable,
} from './stores/errors.js';
import { isAsyncIterable } from './util/async-iterable.js';

export const ERROR_CODES = [
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'BAD_USER_INPUT',
  'FAILED_PRECONDITION',
  'FILE_TOO_LARGE',
  'UNSUPPORTED_FILE_TYPE',
  'UNREADABLE_FILE',
  'SESSION_BUSY',
  'LOCK_LOST',
  'RATE_LIMITED',
  'UPSTREAM_ERROR',
  'SERVICE_UNAVAILABLE',
] as const;

type ErrorCode = (typeof ERROR_CODES)[number];

const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  UNAUTHENTICATED: 401,
};

interface AppErrorOptions {
  retryable?: boolean;
  details?: Record<string, unknown>;
  cause?: unknown;
  /** Sets the HTTP status when this error ends the request before execution. */
  httpStatus?: number;
}

/**
 * Errors meant for the client. Each carries a stable `extensions.code`; being GraphQLErrors they
 * pass yoga's error masking unchanged, while any other thrown error is masked as "Unexpected error".
 */
export class AppError extends GraphQLError {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    const status = options.httpStatus ?? HTTP_STATUS[code];
    // The cause is kept as `cause`, not `originalError`: yoga masks an error whose original
    // error is not a GraphQLError, and these are meant for the client as they are.
    super(message, {
      extensions: {
        code,
        ...(options.retryable !== undefined ? { retryable: options.retryable } : {}),
        ...(options.details ?? {}),
        ...(status ? { http: { status } } : {}),
      },
    });
    this.code = code;
    this.name = 'AppError';
    if (options.cause !== undefined) {
      Object.defineProperty(this, 'cause', { value: options.cause, enumerable: false });
    }
  }
}

export const notFound = (what: string, id: string) =>
  new AppError('NOT_FOUND', `${what} ${id} was not found`);

export const badInput = (message: string, field?: string) =>
  new AppError('BAD_USER_INPUT', message, field ? { details: { field } } : {});

/** The session lock passed to another turn before this one saved (retryable; nothing saved). */
export const lockLost = () =>
  new AppError('LOCK_LOST', 'The session lock was lost during the turn; nothing was saved', {
    retryable: true,
  });

/** A store did not answer in time or could not be reached. */
export class StoreUnavailableError extends AppError {
  constructor(
    readonly store: 'supabase' | 'redis' | 'qdrant' | 'typesense' | 'llm' | 'embeddings',
    cause?: unknown,
  ) {
    super('SERVICE_UNAVAILABLE', `${store} is unavailable right now; try again shortly`, {
      retryable: true,
      details: { store },
      cause,
    });
  }
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_RE.test(value);
}

/** Checks an id argument is a UUID (the Supabase ids as they are); BAD_USER_INPUT otherwise. */
export function parseId(value: string | number, field = 'id'): string {
  const s = String(value);
  if (!UUID_RE.test(s))
    throw badInput(`${field} must be a UUID, got ${JSON.stringify(s.slice(0, 60))}`, field);
  return s.toLowerCase();
}

/**
 * The one mapping of the stores' own errors (src/stores/errors.ts) to the codes clients see:
 * StoreUnavailable → SERVICE_UNAVAILABLE (retryable), NotFound and MissingReference → NOT_FOUND,
 * InvalidValue → BAD_USER_INPUT, Conflict (`stale_fence`) → LOCK_LOST. Anything else is returned
 * as it is (an AppError passes, an unexpected error stays unexpected and is masked).
 */
export function fromStoreError(err: unknown): unknown {
  if (!(err instanceof StoreError)) return err;
  if (err instanceof StoreUnavailable) return new StoreUnavailableError(err.store, err.cause);
  if (err instanceof NotFound || err instanceof MissingReference) {
    return new AppError('NOT_FOUND', err.message);
  }
  if (err instanceof InvalidValue) return badInput(err.message);
  if (err instanceof Conflict) return lockLost();
  return err;
}

/**
 * The schema with every field's resolver and subscription stream mapped through
 * `fromStoreError`, so a store's error reaches the client (and every plugin) with its code.
 */
export function withStoreErrorsMapped(schema: GraphQLSchema): GraphQLSchema {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const field of Object.values(type.getFields())) {
      const { resolve, subscribe } = field;
      if (resolve) field.resolve = mapped(resolve);
      if (subscribe) {
        field.subscribe = (...args) => {
          const stream = mapped(subscribe)(...args);
          return isPromiseLike(stream)
            ? Promise.resolve(stream).then(streamMapped)
            : streamMapped(stream);
        };
      }
    }
  }
  return schema;
}

function mapped<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
  return (...args) => {
    try {
      const result = fn(...args);
      if (isPromiseLike(result)) {
        return Promise.resolve(result).catch((err: unknown) => {
          throw fromStoreError(err);
        }) as R;
      }
      return result;
    } catch (err) {
      throw fromStoreError(err);
    }
  };
}

/** An event stream whose failure is mapped; `return` and `throw` go to the stream as they are. */
function streamMapped(stream: unknown): unknown {
  if (!isAsyncIterable(stream)) return stream;
  const inner = stream[Symbol.asyncIterator]();
  const iterator: AsyncIterableIterator<unknown> = {
    next: () =>
      inner.next().catch((err: unknown) => {
        throw fromStoreError(err);
      }),
    return: (value?: unknown) =>
      inner.return ? inner.return(value) : Promise.resolve({ done: true, value }),
    throw: (error?: unknown) => (inner.throw ? inner.throw(error) : Promise.reject(error)),
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
