-- Fencing of the chat turn save. The per-session write lock lives in Redis and can pass to another
-- turn while a slow turn is still on its way to save_chat_turn (a pause, a slow row lock). So each
-- lock holder takes a fencing number from PostgreSQL right after it takes the lock, and
-- save_chat_turn refuses, in the transaction that writes, a number that is not the session's
-- latest: an older holder can no longer write once a newer one has taken the lock.
--
-- public.chat_turn_fences is the gateway's own state (not part of the shared data layout): one row
-- per session that has had a turn, with the latest fencing number. Only the service role reads or
-- writes it; row-level security is on with no policy, and the API roles get no privilege on it.

create table if not exists public.chat_turn_fences (
  session_id uuid primary key references public.chat_sessions (id) on delete cascade,
  fence bigint not null check (fence > 0),
  taken_at timestamptz not null default now()
);

alter table public.chat_turn_fences enable row level security;
revoke all on table public.chat_turn_fences from public, anon, authenticated;
grant select, insert, update, delete on table public.chat_turn_fences to service_role;

-- take_chat_turn_fence: the next fencing number of a session (1, 2, ...), committed at once. After
-- the session's first number (whose insert checks the foreign key) it locks only the fence row,
-- not the chat_sessions row, so a turn takes its number even while an older turn's save holds or
-- waits for the session row.
create or replace function public.take_chat_turn_fence(p_session_id uuid) returns bigint
language plpgsql
as $$
declare
  v_fence bigint;
begin
  insert into public.chat_turn_fences as f (session_id, fence)
    select p_session_id, 1 where exists (select 1 from public.chat_sessions where id = p_session_id)
    on conflict (session_id) do update set fence = f.fence + 1, taken_at = now()
    returning f.fence into v_fence;
  if v_fence is null then
    raise exception 'chat session % not found', p_session_id using errcode = 'P0002';
  end if;
  return v_fence;
end;
$$;

revoke execute on function public.take_chat_turn_fence(uuid) from public, anon, authenticated;
grant execute on function public.take_chat_turn_fence(uuid) to service_role;

-- save_chat_turn, third version: the second version's turn, fenced. It takes p_fence (required),
-- and after locking the session row and looking for a replay it locks the session's fence row
-- (so no newer holder can take a number until this transaction ends) and raises PT409 ("stale
-- chat turn fence") unless p_fence is the session's latest number. A replay of a saved
-- client_message_id still returns the saved turn and writes nothing, whatever the fence.
-- The unfenced second version is dropped: no caller can save without a fencing number.
drop function if exists public.save_chat_turn(uuid, uuid, text, text, jsonb, uuid, integer);

create or replace function public.save_chat_turn(
  p_session_id uuid,
  p_user_id uuid,
  p_fence bigint,
  p_user_content text,
  p_reply_content text,
  p_citations jsonb default '[]'::jsonb,
  p_client_message_id uuid default null,
  p_preview_length integer default 160
) returns jsonb
language plpgsql
as $$
declare
  v_session public.chat_sessions;
  v_user public.messages;
  v_reply public.messages;
  v_latest bigint;
  v_last timestamptz;
  v_at timestamptz;
begin
  select * into v_session from public.chat_sessions
    where id = p_session_id and user_id = p_user_id
    for update;
  if not found then
    raise exception 'chat session % not found', p_session_id using errcode = 'P0002';
  end if;

  if p_client_message_id is not null then
    select * into v_user from public.messages
      where session_id = p_session_id and client_message_id = p_client_message_id;
    if found then
      select * into v_reply from public.messages
        where session_id = p_session_id and role = 'assistant' and created_at > v_user.created_at
        order by created_at limit 1;
      return jsonb_build_object(
        'user_message', to_jsonb(v_user), 'reply', to_jsonb(v_reply),
        'session', to_jsonb(v_session), 'replayed', true);
    end if;
  end if;

  -- The check and the write are one step: the fence row stays locked until this commits.
  select fence into v_latest from public.chat_turn_fences
    where session_id = p_session_id
    for share;
  if p_fence is null or v_latest is null or p_fence <> v_latest then
    raise exception 'stale chat turn fence % for session % (latest %)',
      p_fence, p_session_id, v_latest
      using errcode = 'PT409', hint = 'the session lock was taken by a newer turn';
  end if;

  -- created_at strictly increases within the session, by whole milliseconds, even if clocks tie
  -- or step back, and even after a message written elsewhere with microseconds.
  select max(created_at) into v_last from public.messages where session_id = p_session_id;
  v_at := date_trunc('milliseconds', clock_timestamp());
  if v_last is not null and v_at <= v_last then
    v_at := date_trunc('milliseconds', v_last) + interval '1 millisecond';
  end if;

  insert into public.messages (session_id, role, content, client_message_id, created_at)
    values (p_session_id, 'user', p_user_content, p_client_message_id, v_at)
    returning * into v_user;
  insert into public.messages (session_id, role, content, citations, created_at)
    values (p_session_id, 'assistant', p_reply_content, coalesce(p_citations, '[]'::jsonb),
            v_at + interval '1 millisecond')
    returning * into v_reply;

  update public.chat_sessions
    set message_count = message_count + 2,
        preview = left(p_reply_content, greatest(p_preview_length, 1))
    where id = p_session_id
    returning * into v_session;

  return jsonb_build_object(
    'user_message', to_jsonb(v_user), 'reply', to_jsonb(v_reply),
    'session', to_jsonb(v_session), 'replayed', false);
end;
$$;

revoke execute on function
  public.save_chat_turn(uuid, uuid, bigint, text, text, jsonb, uuid, integer)
  from public, anon, authenticated;
grant execute on function
  public.save_chat_turn(uuid, uuid, bigint, text, text, jsonb, uuid, integer)
  to service_role;
