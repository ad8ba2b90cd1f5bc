import type { SupabaseClient } from '@supabase/supabase-js';
import { z } from 'zod';
import { processingStatus } from '../models.js';
import { unwrap } from './postgrest.js';

const requested = z.object({
  job_id: z.string(),
  state: z.enum(['queued', 'running', 'done']),
  created: z.boolean(),
  requested_at: z.string(),
  lease_live: z.boolean(),
  processing_status: processingStatus,
});
export type RequestedJob = z.infer<typeof requested>;

const claim = z.enum(['claimed', 'busy', 'stale', 'missing']);
type ClaimOutcome = z.infer<typeof claim>;

const openJob = z.object({
  book_id: z.string(),
  job_id: z.string(),
  state: z.enum(['queued', 'running']),
  requested_at: z.string(),
});
export type OpenJob = z.infer<typeof openJob>;

/**
 * Supabase I/O for `book_jobs` (the backend's record of each book's current ingestion job and
 * the lease of the worker running it), through its functions, each one transaction.
 */
export class BookJobStore {
  constructor(private readonly db: SupabaseClient) {}

  async request(bookId: string, jobId: string): Promise<RequestedJob> {
    const res = await this.db.rpc('request_book_job', { p_book_id: bookId, p_job_id: jobId });
    return unwrap(res, requested, 'request_book_job');
  }

  async claim(args: {
    bookId: string;
    jobId: string;
    worker: string;
    leaseMs: number;
    enqueuedAt: string | undefined;
  }): Promise<ClaimOutcome> {
    const at = args.enqueuedAt !== undefined ? Date.parse(args.enqueuedAt) : Number.NaN;
    const res = await this.db.rpc('claim_book_job', {
      p_book_id: args.bookId,
      p_job_id: args.jobId,
      p_worker: args.worker,
      p_lease_ms: args.leaseMs,
      p_enqueued_at: Number.isNaN(at) ? null : new Date(at).toISOString(),
    });
    return unwrap(res, claim, 'claim_book_job');
  }

  async renew(bookId: string, jobId: string, worker: string, leaseMs: number): Promise<boolean> {
    const res = await this.db.rpc('renew_book_job', {
      p_book_id: bookId,
      p_job_id: jobId,
      p_worker: worker,
      p_lease_ms: leaseMs,
    });
    return unwrap(res, z.boolean(), 'renew_book_job');
  }

  async finish(
    bookId: string,
    jobId: string,
    worker: string,
    status: 'completed' | 'failed',
  ): Promise<boolean> {
    const res = await this.db.rpc('finish_book_job', {
      p_book_id: bookId,
      p_job_id: jobId,
      p_worker: worker,
      p_status: status,
    });
    return unwrap(res, z.boolean(), 'finish_book_job');
  }

  /** Queued jobs, and running ones whose lease ran out, oldest request first. */
  async open(): Promise<OpenJob[]> {
    const res = await this.db.rpc('open_book_jobs');
    return unwrap(res, z.array(openJob), 'open_book_jobs');
  }
}
