-- begin_chat_turn: the start of a chat turn in one round trip. It takes the session's next fencing
-- number exactly as take_chat_turn_fence does (same row, same commit), then, when the turn carries
-- a client_message_id, looks for the turn already saved with it. The look-up runs after the fence
-- is taken, in the same call: a save by an older holder that committed before this call is seen,
-- and one that commits after it is refused by save_chat_turn (its fence is no longer the latest).
-- It returns the fence, the saved user message and reply (null when there is none) and the session
-- row as it is now. Only the service role may call it, as for the other chat turn functions.
create or replace function public.begin_chat_turn(
  p_session_id uuid,
  p_client_message_id uuid default null
) returns jsonb
language plpgsql
as $$
declare
  v_fence bigint;
  v_session public.chat_sessions;
  v_user public.messages;
  v_reply public.messages;
begin
  v_fence := public.take_chat_turn_fence(p_session_id);

  if p_client_message_id is not null then
    select * into v_user from public.messages
      where session_id = p_session_id and client_message_id = p_client_message_id;
    if found then
      select * into v_reply from public.messages
        where session_id = p_session_id and role = 'assistant' and created_at > v_user.created_at
        order by created_at limit 1;
      select * into v_session from public.chat_sessions where id = p_session_id;
    end if;
  end if;

  return jsonb_build_object(
    'fence', v_fence,
    'user_message', case when v_user.id is null then null else to_jsonb(v_user) end,
    'reply', case when v_reply.id is null then null else to_jsonb(v_reply) end,
    'session', case when v_session.id is null then null else to_jsonb(v_session) end);
end;
$$;

revoke execute on function public.begin_chat_turn(uuid, uuid) from public, anon, authenticated;
grant execute on function public.begin_chat_turn(uuid, uuid) to service_role;
