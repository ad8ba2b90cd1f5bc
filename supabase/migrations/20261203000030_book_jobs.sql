-- Ingestion jobs, recorded where a Redis restart cannot lose them. One row per book: its current
-- (or last) job, whether that job is queued, running or done, and the lease of the worker that
-- runs it. The Redis `processing_queue` stays the way jobs travel; this table is what makes a run
-- happen once at a time and what a sweep re-queues from when the queue lost a job.
-- Backend only: no grant to anon or authenticated, row-level security on with no policy.

create table if not exists public.book_jobs (
  book_id uuid primary key references public.books (id) on delete cascade,
  job_id text not null check (length(job_id) between 1 and 200),
  state text not null check (state in ('queued', 'running', 'done')),
  requested_at timestamptz not null default now(),
  worker text,
  lease_until timestamptz,
  finished_at timestamptz
);

create index if not exists book_jobs_open_idx on public.book_jobs (state, lease_until)
  where state <> 'done';

alter table public.book_jobs enable row level security;
revoke all on public.book_jobs from public, anon, authenticated;
grant select, insert, update, delete on public.book_jobs to service_role;

-- A reader asks for a run. Without an open job a new one is recorded as `queued` with p_job_id
-- and the book goes back to `pending`; with one open (queued or running), nothing changes and
-- that job is returned, so concurrent requests share one run.
create or replace function public.request_book_job(p_book_id uuid, p_job_id text)
returns jsonb
language plpgsql
as $$
declare
  v_status text;
  v_job public.book_jobs;
begin
  select processing_status into v_status from public.books where id = p_book_id for update;
  if not found then
    raise exception 'book % not found', p_book_id using errcode = 'P0002';
  end if;
  select * into v_job from public.book_jobs where book_id = p_book_id for update;
  if found and v_job.state <> 'done' then
    return jsonb_build_object(
      'job_id', v_job.job_id, 'state', v_job.state, 'created', false,
      'requested_at', v_job.requested_at,
      'lease_live', v_job.state = 'running' and v_job.lease_until > now(),
      'processing_status', v_status);
  end if;
  insert into public.book_jobs (book_id, job_id, state, requested_at)
    values (p_book_id, p_job_id, 'queued', now())
    on conflict (book_id) do update
      set job_id = excluded.job_id, state = 'queued', requested_at = excluded.requested_at,
          worker = null, lease_until = null, finished_at = null
    returning * into v_job;
  if v_status <> 'pending' then
    update public.books set processing_status = 'pending' where id = p_book_id;
  end if;
  return jsonb_build_object(
    'job_id', v_job.job_id, 'state', v_job.state, 'created', true,
    'requested_at', v_job.requested_at, 'lease_live', false, 'processing_status', 'pending');
end;
$$;

-- A worker took a job off the queue and asks to run it. Answers:
--   'claimed'  the lease is the worker's for p_lease_ms and the book is `processing`;
--   'busy'     another run holds a live lease on the book;
--   'stale'    this job (or a run requested after it) already ended;
--   'missing'  the book does not exist.
-- A job this table does not know (pushed by an instance that does not record jobs) is adopted,
-- unless the book's last run ended after it was enqueued.
create or replace function public.claim_book_job(
  p_book_id uuid,
  p_job_id text,
  p_worker text,
  p_lease_ms integer,
  p_enqueued_at timestamptz default null
) returns text
language plpgsql
as $$
declare
  v_job public.book_jobs;
begin
  perform 1 from public.books where id = p_book_id for update;
  if not found then
    return 'missing';
  end if;
  select * into v_job from public.book_jobs where book_id = p_book_id for update;
  if found then
    if v_job.state = 'running' and v_job.lease_until > now() then
      return 'busy';
    end if;
    if v_job.state = 'done' and (v_job.job_id = p_job_id
        or (p_enqueued_at is not null and p_enqueued_at <= v_job.finished_at)) then
      return 'stale';
    end if;
  end if;
  insert into public.book_jobs (book_id, job_id, state, requested_at, worker, lease_until)
    values (p_book_id, p_job_id, 'running', coalesce(p_enqueued_at, now()), p_worker,
            now() + make_interval(secs => p_lease_ms / 1000.0))
    on conflict (book_id) do update
      set job_id = excluded.job_id, state = 'running', worker = excluded.worker,
          lease_until = excluded.lease_until, finished_at = null,
          requested_at = case when public.book_jobs.job_id = excluded.job_id
                              then public.book_jobs.requested_at else excluded.requested_at end;
  update public.books set processing_status = 'processing'
    where id = p_book_id and processing_status <> 'processing';
  return 'claimed';
end;
$$;

-- The running worker keeps its lease; false when the lease is no longer its own.
create or replace function public.renew_book_job(
  p_book_id uuid,
  p_job_id text,
  p_worker text,
  p_lease_ms integer
) returns boolean
language sql
as $$
  with renewed as (
    update public.book_jobs
      set lease_until = now() + make_interval(secs => p_lease_ms / 1000.0)
      where book_id = p_book_id and job_id = p_job_id and worker = p_worker and state = 'running'
      returning 1
  )
  select exists (select 1 from renewed);
$$;

-- The run ends: the job is done and the book `completed` or `failed`, in one step, and only if
-- the lease is still the worker's (a worker that lost it cannot overwrite the new run's status).
create or replace function public.finish_book_job(
  p_book_id uuid,
  p_job_id text,
  p_worker text,
  p_status text
) returns boolean
language plpgsql
as $$
begin
  if p_status not in ('completed', 'failed') then
    raise exception 'a run ends completed or failed, not %', p_status using errcode = '22023';
  end if;
  update public.book_jobs
    set state = 'done', finished_at = now(), lease_until = null
    where book_id = p_book_id and job_id = p_job_id and worker = p_worker and state = 'running';
  if not found then
    return false;
  end if;
  update public.books set processing_status = p_status where id = p_book_id;
  return true;
end;
$$;

-- The open jobs that may have been lost: queued ones, and running ones whose lease ran out.
create or replace function public.open_book_jobs()
returns jsonb
language sql
stable
as $$
  select coalesce(jsonb_agg(jsonb_build_object(
      'book_id', book_id, 'job_id', job_id, 'state', state, 'requested_at', requested_at)
      order by requested_at), '[]'::jsonb)
    from public.book_jobs
    where state = 'queued' or (state = 'running' and lease_until < now());
$$;

revoke execute on function public.request_book_job(uuid, text) from public, anon, authenticated;
revoke execute on function public.claim_book_job(uuid, text, text, integer, timestamptz)
  from public, anon, authenticated;
revoke execute on function public.renew_book_job(uuid, text, text, integer)
  from public, anon, authenticated;
revoke execute on function public.finish_book_job(uuid, text, text, text)
  from public, anon, authenticated;
revoke execute on function public.open_book_jobs() from public, anon, authenticated;
grant execute on function public.request_book_job(uuid, text) to service_role;
grant execute on function public.claim_book_job(uuid, text, text, integer, timestamptz)
  to service_role;
grant execute on function public.renew_book_job(uuid, text, text, integer) to service_role;
grant execute on function public.finish_book_job(uuid, text, text, text) to service_role;
grant execute on function public.open_book_jobs() to service_role;
