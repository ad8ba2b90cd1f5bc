-- Row-level security for the frontend's own Supabase access (the gateway uses the service role,
-- which bypasses it, and checks ownership itself). Signed-in readers see the whole catalog and
-- only their own sessions and messages; they may create their own books and sessions.

alter table public.categories enable row level security;
alter table public.books enable row level security;
alter table public.characters enable row level security;
alter table public.chat_sessions enable row level security;
alter table public.messages enable row level security;

grant usage on schema public to anon, authenticated, service_role;
grant select on public.categories, public.books, public.characters to authenticated;
grant insert on public.books to authenticated;
grant select, insert, update on public.chat_sessions to authenticated;
grant select on public.messages to authenticated;
grant all on all tables in schema public to service_role;
grant execute on all functions in schema public to service_role;

drop policy if exists categories_read on public.categories;
create policy categories_read on public.categories for select to authenticated using (true);

drop policy if exists books_read on public.books;
create policy books_read on public.books for select to authenticated using (true);

drop policy if exists books_insert_own on public.books;
create policy books_insert_own on public.books for insert to authenticated
  with check (user_id = auth.uid() and processing_status = 'pending');

drop policy if exists characters_read on public.characters;
create policy characters_read on public.characters for select to authenticated using (true);

drop policy if exists chat_sessions_own on public.chat_sessions;
create policy chat_sessions_own on public.chat_sessions for select to authenticated
  using (user_id = auth.uid());

drop policy if exists chat_sessions_insert_own on public.chat_sessions;
create policy chat_sessions_insert_own on public.chat_sessions for insert to authenticated
  with check (user_id = auth.uid());

drop policy if exists chat_sessions_update_own on public.chat_sessions;
create policy chat_sessions_update_own on public.chat_sessions for update to authenticated
  using (user_id = auth.uid()) with check (user_id = auth.uid());

drop policy if exists messages_own on public.messages;
create policy messages_own on public.messages for select to authenticated
  using (exists (
    select 1 from public.chat_sessions s
    where s.id = messages.session_id and s.user_id = auth.uid()
  ));
