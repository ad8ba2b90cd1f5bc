-- save_chat_turn, second version: the same turn in one transaction, but every created_at it writes
-- is on a whole millisecond and at least one millisecond after the session's previous message.
-- The first version spaced messages by one microsecond, which the API's DateTime (milliseconds, as
-- JavaScript dates and ISO strings carry them) showed as a tie between a reader's message and its
-- reply. Also: only the gateway's service role may call it (Supabase's default privileges grant
-- execute on new functions to anon and authenticated).
create or replace function public.save_chat_turn(
  p_session_id uuid,
  p_user_id uuid,
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

revoke execute on function public.save_chat_turn(uuid, uuid, text, text, jsonb, uuid, integer)
  from public, anon, authenticated;
grant execute on function public.save_chat_turn(uuid, uuid, text, text, jsonb, uuid, integer)
  to service_role;
