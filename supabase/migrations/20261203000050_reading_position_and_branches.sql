-- Spoiler-safe chats and branching conversations. Everything here is added beside the shared
-- layout (nullable columns, a table of the gateway's own); no key or existing column changes.
--
-- Reading position: a session may say how far its reader has read, either as a chapter (the
-- book's sections in order, from 1) or as a share of the text in percent. The gateway resolves
-- it, when it is set, to the last chunk the reader has read in full (reading_max_chunk_index,
-- -1 when none) and retrieves nothing past it. All three are null for a session that never set
-- one (the whole book). They are the backend's to write: the frontend reads them on its own
-- sessions (the table's select policy) and is granted no insert or update of them.
alter table public.chat_sessions
  add column if not exists reading_chapter integer check (reading_chapter >= 0),
  add column if not exists reading_percent double precision
    check (reading_percent >= 0 and reading_percent <= 100),
  add column if not exists reading_max_chunk_index integer check (reading_max_chunk_index >= -1),
  add column if not exists current_branch_id uuid;

-- Branches. Messages stay keyed by session_id + created_at (strictly increasing within the
-- session). A message's branch_id is null on the session's original branch; a regenerated reply
-- or an edited reader message starts a branch (a chat_branches row) holding the new messages. A
-- branch's conversation is its parent's messages before fork_at, then its own (see
-- chat_branch_messages). alternative_of points at the first version of the same message (the
-- original reply for a regenerated one, the original reader message for an edited one).
alter table public.messages
  add column if not exists branch_id uuid,
  add column if not exists alternative_of uuid references public.messages (id) on delete cascade;

create index if not exists messages_alternative_of_idx on public.messages (alternative_of)
  where alternative_of is not null;

create table if not exists public.chat_branches (
  id uuid primary key default gen_random_uuid(),
  session_id uuid not null references public.chat_sessions (id) on delete cascade,
  parent_branch_id uuid references public.chat_branches (id) on delete cascade,
  fork_at timestamptz not null,
  created_at timestamptz not null default now()
);
create index if not exists chat_branches_session_idx on public.chat_branches (session_id);

alter table public.messages
  add constraint messages_branch_fk foreign key (branch_id)
  references public.chat_branches (id) on delete cascade;
alter table public.chat_sessions
  add constraint chat_sessions_current_branch_fk foreign key (current_branch_id)
  references public.chat_branches (id) on delete set null;

-- A reader sees the branches of their own sessions only; only the backend writes them.
alter table public.chat_branches enable row level security;
revoke all on table public.chat_branches from public, anon, authenticated;
grant select on table public.chat_branches to authenticated;
grant all on table public.chat_branches to service_role;
drop policy if exists chat_branches_own on public.chat_branches;
create policy chat_branches_own on public.chat_branches for select to authenticated
  using (exists (
    select 1 from public.chat_sessions s
    where s.id = chat_branches.session_id and s.user_id = auth.uid()
  ));

-- The messages of one branch of a session, as its conversation reads: the branch's own messages,
-- then up its parents, each parent's messages before the fork of the branch below it. With
-- p_branch_id null: the original branch. PostgREST filters, orders and counts its rows like a table.
create or replace function public.chat_branch_messages(p_session_id uuid, p_branch_id uuid)
returns setof public.messages
language sql stable
as $$
  with recursive chain (branch_id, parent, fork_at, bound) as (
    select b.id, b.parent_branch_id, b.fork_at, 'infinity'::timestamptz
      from public.chat_branches b
      where b.id = p_branch_id and b.session_id = p_session_id
    union all
    select p.id, p.parent_branch_id, p.fork_at, least(c.bound, c.fork_at)
      from chain c join public.chat_branches p on p.id = c.parent
  )
  select m.* from public.messages m
  where m.session_id = p_session_id
    and case
      when p_branch_id is null then m.branch_id is null
      when m.branch_id is null then
        m.created_at < (select least(c.bound, c.fork_at) from chain c where c.parent is null)
      else exists (
        select 1 from chain c where c.branch_id = m.branch_id and m.created_at < c.bound)
    end
$$;

-- The session's message_count and preview for the branch it shows: how many messages that
-- branch's conversation has, and the start of its last reply.
create or replace function public.chat_branch_summary(
  p_session_id uuid, p_branch_id uuid, p_preview_length integer
) returns table (message_count integer, preview text)
language sql stable
as $$
  select
    (select count(*)::integer from public.chat_branch_messages(p_session_id, p_branch_id)),
    (select left(m.content, greatest(p_preview_length, 1))
       from public.chat_branch_messages(p_session_id, p_branch_id) m
       where m.role = 'assistant' order by m.created_at desc limit 1)
$$;

-- save_chat_turn, fourth version: the third version's fenced turn, written on the branch the
-- session shows (current_branch_id), and a replay finds the reply on the same branch as the
-- reader's message.
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
          and branch_id is not distinct from v_user.branch_id
        order by created_at limit 1;
      return jsonb_build_object(
        'user_message', to_jsonb(v_user), 'reply', to_jsonb(v_reply),
        'session', to_jsonb(v_session), 'replayed', true);
    end if;
  end if;

  select fence into v_latest from public.chat_turn_fences
    where session_id = p_session_id
    for share;
  if p_fence is null or v_latest is null or p_fence <> v_latest then
    raise exception 'stale chat turn fence % for session % (latest %)',
      p_fence, p_session_id, v_latest
      using errcode = 'PT409', hint = 'the session lock was taken by a newer turn';
  end if;

  select max(created_at) into v_last from public.messages where session_id = p_session_id;
  v_at := date_trunc('milliseconds', clock_timestamp());
  if v_last is not null and v_at <= v_last then
    v_at := date_trunc('milliseconds', v_last) + interval '1 millisecond';
  end if;

  insert into public.messages (session_id, role, content, client_message_id, created_at, branch_id)
    values (p_session_id, 'user', p_user_content, p_client_message_id, v_at,
            v_session.current_branch_id)
    returning * into v_user;
  insert into public.messages (session_id, role, content, citations, created_at, branch_id)
    values (p_session_id, 'assistant', p_reply_content, coalesce(p_citations, '[]'::jsonb),
            v_at + interval '1 millisecond', v_session.current_branch_id)
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

-- begin_chat_turn, second version: the same fence and replay look-up in one call, now aware of
-- branches, and it always returns the session row (a turn reads the session's reading position
-- and branch under the lock from it). A saved client_message_id on a reply is a regenerated
-- reply's: its turn is the reader message before the reply's first version. A reader message's
-- reply is the next one on its own branch.
create or replace function public.begin_chat_turn(
  p_session_id uuid,
  p_client_message_id uuid default null
) returns jsonb
language plpgsql
as $$
declare
  v_fence bigint;
  v_session public.chat_sessions;
  v_saved public.messages;
  v_root public.messages;
  v_user public.messages;
  v_reply public.messages;
begin
  v_fence := public.take_chat_turn_fence(p_session_id);
  select * into v_session from public.chat_sessions where id = p_session_id;

  if p_client_message_id is not null then
    select * into v_saved from public.messages
      where session_id = p_session_id and client_message_id = p_client_message_id;
    if found and v_saved.role = 'assistant' then
      v_reply := v_saved;
      select * into v_root from public.messages
        where id = coalesce(v_saved.alternative_of, v_saved.id);
      select * into v_user from public.messages
        where session_id = p_session_id and created_at < v_root.created_at
          and branch_id is not distinct from v_root.branch_id
        order by created_at desc limit 1;
    elsif found then
      v_user := v_saved;
      select * into v_reply from public.messages
        where session_id = p_session_id and role = 'assistant' and created_at > v_saved.created_at
          and branch_id is not distinct from v_saved.branch_id
        order by created_at limit 1;
    end if;
  end if;

  return jsonb_build_object(
    'fence', v_fence,
    'user_message', case when v_user.id is null then null else to_jsonb(v_user) end,
    'reply', case when v_reply.id is null then null else to_jsonb(v_reply) end,
    'session', case when v_session.id is null then null else to_jsonb(v_session) end);
end;
$$;

-- save_chat_fork: a regenerated reply (p_kind 'regenerate', p_target_id the reply) or an edited
-- reader message with its new reply (p_kind 'edit', p_target_id the reader's message), saved in
-- one transaction, fenced like save_chat_turn. It starts a branch forked just before the target,
-- writes the new message(s) on it, makes it the branch the session shows and sets message_count
-- and preview from that branch. A replay of a saved p_client_message_id returns what it saved
-- and writes nothing. Errors: P0002 no such session of the reader's; PT404 no such message in
-- the session; PT422 the target is not of the kind's role; PT409 stale fence.
create or replace function public.save_chat_fork(
  p_session_id uuid,
  p_user_id uuid,
  p_fence bigint,
  p_kind text,
  p_target_id uuid,
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
  v_target public.messages;
  v_root public.messages;
  v_user public.messages;
  v_reply public.messages;
  v_saved public.messages;
  v_branch uuid;
  v_latest bigint;
  v_last timestamptz;
  v_at timestamptz;
  v_count integer;
  v_preview text;
begin
  if p_kind not in ('regenerate', 'edit') then
    raise exception 'unknown fork kind %', p_kind using errcode = '22023';
  end if;
  select * into v_session from public.chat_sessions
    where id = p_session_id and user_id = p_user_id
    for update;
  if not found then
    raise exception 'chat session % not found', p_session_id using errcode = 'P0002';
  end if;

  if p_client_message_id is not null then
    select * into v_saved from public.messages
      where session_id = p_session_id and client_message_id = p_client_message_id;
    if found then
      if v_saved.role = 'assistant' then
        -- A regenerated reply: the reader's message it answers is the one before its first version.
        v_reply := v_saved;
        select * into v_root from public.messages
          where id = coalesce(v_saved.alternative_of, v_saved.id);
        select * into v_user from public.messages
          where session_id = p_session_id and created_at < v_root.created_at
            and branch_id is not distinct from v_root.branch_id
          order by created_at desc limit 1;
      else
        v_user := v_saved;
        select * into v_reply from public.messages
          where session_id = p_session_id and role = 'assistant'
            and created_at > v_saved.created_at
            and branch_id is not distinct from v_saved.branch_id
          order by created_at limit 1;
      end if;
      return jsonb_build_object(
        'user_message', to_jsonb(v_user), 'reply', to_jsonb(v_reply),
        'session', to_jsonb(v_session), 'replayed', true);
    end if;
  end if;

  select fence into v_latest from public.chat_turn_fences
    where session_id = p_session_id
    for share;
  if p_fence is null or v_latest is null or p_fence <> v_latest then
    raise exception 'stale chat turn fence % for session % (latest %)',
      p_fence, p_session_id, v_latest
      using errcode = 'PT409', hint = 'the session lock was taken by a newer turn';
  end if;

  select * into v_target from public.messages
    where id = p_target_id and session_id = p_session_id;
  if not found then
    raise exception 'message % not found', p_target_id using errcode = 'PT404';
  end if;
  if v_target.role <> (case when p_kind = 'regenerate' then 'assistant' else 'user' end) then
    raise exception 'message % is not a %', p_target_id,
      case when p_kind = 'regenerate' then 'reply' else 'reader message' end
      using errcode = 'PT422';
  end if;

  select * into v_root from public.messages where id = coalesce(v_target.alternative_of, v_target.id);
  if p_kind = 'regenerate' then
    select * into v_user from public.messages
      where session_id = p_session_id and created_at < v_root.created_at
        and branch_id is not distinct from v_root.branch_id
      order by created_at desc limit 1;
    if not found or v_user.role <> 'user' then
      raise exception 'reply % answers no reader message', p_target_id using errcode = 'PT422';
    end if;
  end if;

  insert into public.chat_branches (session_id, parent_branch_id, fork_at)
    values (p_session_id, v_target.branch_id, v_target.created_at)
    returning id into v_branch;

  select max(created_at) into v_last from public.messages where session_id = p_session_id;
  v_at := date_trunc('milliseconds', clock_timestamp());
  if v_last is not null and v_at <= v_last then
    v_at := date_trunc('milliseconds', v_last) + interval '1 millisecond';
  end if;

  if p_kind = 'edit' then
    insert into public.messages
        (session_id, role, content, client_message_id, created_at, branch_id, alternative_of)
      values (p_session_id, 'user', p_user_content, p_client_message_id, v_at, v_branch, v_root.id)
      returning * into v_user;
    insert into public.messages (session_id, role, content, citations, created_at, branch_id)
      values (p_session_id, 'assistant', p_reply_content, coalesce(p_citations, '[]'::jsonb),
              v_at + interval '1 millisecond', v_branch)
      returning * into v_reply;
  else
    insert into public.messages
        (session_id, role, content, citations, client_message_id, created_at, branch_id,
         alternative_of)
      values (p_session_id, 'assistant', p_reply_content, coalesce(p_citations, '[]'::jsonb),
              p_client_message_id, v_at, v_branch, v_root.id)
      returning * into v_reply;
  end if;

  select s.message_count, s.preview into v_count, v_preview
    from public.chat_branch_summary(p_session_id, v_branch, p_preview_length) s;
  update public.chat_sessions
    set current_branch_id = v_branch, message_count = v_count, preview = v_preview
    where id = p_session_id
    returning * into v_session;

  return jsonb_build_object(
    'user_message', to_jsonb(v_user), 'reply', to_jsonb(v_reply),
    'session', to_jsonb(v_session), 'replayed', false);
end;
$$;

-- select_chat_branch: makes the branch holding p_message_id the one the session shows (fenced
-- like a turn), with message_count and preview from it. P0002 / PT404 / PT409 as above.
create or replace function public.select_chat_branch(
  p_session_id uuid,
  p_user_id uuid,
  p_fence bigint,
  p_message_id uuid,
  p_preview_length integer default 160
) returns jsonb
language plpgsql
as $$
declare
  v_session public.chat_sessions;
  v_message public.messages;
  v_latest bigint;
  v_count integer;
  v_preview text;
begin
  select * into v_session from public.chat_sessions
    where id = p_session_id and user_id = p_user_id
    for update;
  if not found then
    raise exception 'chat session % not found', p_session_id using errcode = 'P0002';
  end if;
  select fence into v_latest from public.chat_turn_fences
    where session_id = p_session_id
    for share;
  if p_fence is null or v_latest is null or p_fence <> v_latest then
    raise exception 'stale chat turn fence % for session % (latest %)',
      p_fence, p_session_id, v_latest
      using errcode = 'PT409', hint = 'the session lock was taken by a newer turn';
  end if;
  select * into v_message from public.messages
    where id = p_message_id and session_id = p_session_id;
  if not found then
    raise exception 'message % not found', p_message_id using errcode = 'PT404';
  end if;
  select s.message_count, s.preview into v_count, v_preview
    from public.chat_branch_summary(p_session_id, v_message.branch_id, p_preview_length) s;
  update public.chat_sessions
    set current_branch_id = v_message.branch_id, message_count = v_count, preview = v_preview
    where id = p_session_id
    returning * into v_session;
  return to_jsonb(v_session);
end;
$$;

revoke execute on function public.begin_chat_turn(uuid, uuid) from public, anon, authenticated;
grant execute on function public.begin_chat_turn(uuid, uuid) to service_role;
revoke execute on function public.chat_branch_messages(uuid, uuid) from public, anon, authenticated;
revoke execute on function public.chat_branch_summary(uuid, uuid, integer)
  from public, anon, authenticated;
revoke execute on function
  public.save_chat_fork(uuid, uuid, bigint, text, uuid, text, text, jsonb, uuid, integer)
  from public, anon, authenticated;
revoke execute on function public.select_chat_branch(uuid, uuid, bigint, uuid, integer)
  from public, anon, authenticated;
grant execute on function public.chat_branch_messages(uuid, uuid) to service_role;
grant execute on function public.chat_branch_summary(uuid, uuid, integer) to service_role;
grant execute on function
  public.save_chat_fork(uuid, uuid, bigint, text, uuid, text, text, jsonb, uuid, integer)
  to service_role;
grant execute on function public.select_chat_branch(uuid, uuid, bigint, uuid, integer)
  to service_role;
