import type { StoreName } from './metrics.js';

/**
 * What a store can fail with, as plain errors of its own kind: the stores know nothing of GraphQL
 * or of the client's error codes. `src/errors.ts` (`fromStoreError`) is the one place that turns
 * them into the codes clients see.
 */
export class StoreError extends Error {}

/** The store did not answer (a failed connection, a 5xx, or no answer in time). */
export class StoreUnavailable extends StoreError {
  override readonly name = 'StoreUnavailable';

  constructor(
    readonly store: StoreName,
    cause?: unknown,
  ) {
    super(`${store} is unavailable right now; try again shortly`, { cause });
  }
}

/** A row the call is about does not exist (`what` and `id`, say "Chat session" and its id). */
export class NotFound extends StoreError {
  override readonly name = 'NotFound';

  constructor(
    readonly what: string,
    readonly id: string,
  ) {
    super(`${what} ${id} was not found`);
  }
}

/** A write pointed at a row that does not exist (a foreign key refused it). */
export class MissingReference extends StoreError {
  override readonly name = 'MissingReference';

  constructor(what: string) {
    super(`${what}: a referenced row does not exist`);
  }
}

/** The store refused a value it cannot hold (malformed, too long, against a check). */
export class InvalidValue extends StoreError {
  override readonly name = 'InvalidValue';
}

/** The write lost a race the store decides: `stale_fence`, a newer holder of the session lock. */
export class Conflict extends StoreError {
  override readonly name = 'Conflict';

  constructor(
    readonly reason: 'stale_fence',
    message: string,
  ) {
    super(message);
  }
}
