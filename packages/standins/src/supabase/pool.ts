import type postgres from 'postgres';

/**
 * The stand-in's database pool, replaced by a fresh one when connections were cut under a
 * request: postgres.js (3.4.9) can leave a pool whose connections died inside transactions with
 * queries that never answer. Requests in flight finish on the pool they started on, which is
 * ended in the background (its stuck queries rejected after `endTimeoutSeconds`).
 */
export class ConnectionPool {
  private current: postgres.Sql;

  constructor(
    private readonly connect: () => postgres.Sql,
    private readonly endTimeoutSeconds = 5,
  ) {
    this.current = connect();
  }

  get sql(): postgres.Sql {
    return this.current;
  }

  /** `failed` lost a connection: the next requests get a new pool (once per failed pool). */
  replace(failed: postgres.Sql): void {
    if (failed !== this.current) return;
    this.current = this.connect();
    failed.end({ timeout: this.endTimeoutSeconds }).catch(() => {});
  }

  end(options?: { timeout?: number }): Promise<void> {
    return this.current.end(options);
  }
}
