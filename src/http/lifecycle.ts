import { setTimeout as sleep } from 'node:timers/promises';
import type { SessionLocks } from '../chat/session-lock.js';

/**
 * The gateway's life: serving, then draining. While draining, new GraphQL requests are refused
 * (503, SERVICE_UNAVAILABLE) and `/readyz` says so; `drain` waits for the operations in flight
 * (queries, mutations and chat-turn streams; progress subscriptions are not waited for) and for
 * the session locks this process holds (a turn keeps running after its client left), up to a
 * deadline, then releases the locks still held.
 */
export class Lifecycle {
  private inFlight = 0;
  private draining = false;

  constructor(private readonly locks?: SessionLocks) {}

  get isDraining(): boolean {
    return this.draining;
  }

  get inFlightOperations(): number {
    return this.inFlight;
  }

  get heldLocks(): number {
    return this.locks?.size ?? 0;
  }

  /** Counts one operation in flight; the returned function ends it (once). */
  begin(): () => void {
    this.inFlight++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.inFlight--;
    };
  }

  startDraining(): void {
    this.draining = true;
  }

  /**
   * Waits up to `deadlineMs` for in-flight operations and held session locks to end; then releases
   * the locks still held. Reports whether everything ended in time.
   */
  async drain(
    deadlineMs: number,
  ): Promise<{ inTime: boolean; operationsLeft: number; locksReleased: number }> {
    this.draining = true;
    const until = Date.now() + deadlineMs;
    while ((this.inFlight > 0 || this.heldLocks > 0) && Date.now() < until) {
      await sleep(Math.min(25, Math.max(until - Date.now(), 1)));
    }
    const inTime = this.inFlight === 0 && this.heldLocks === 0;
    const locksReleased = inTime ? 0 : ((await this.locks?.releaseAll()) ?? 0);
    return { inTime, operationsLeft: this.inFlight, locksReleased };
  }
}
