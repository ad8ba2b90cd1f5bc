-- Least privilege for the frontend's own access. Supabase grants anon and authenticated every
-- privilege on what a migration creates in schema public (TRUNCATE, TRIGGER, REFERENCES and
-- writes to every column, limited only by row-level security, and TRUNCATE is not). Take all of
-- it back, then grant exactly what the frontend does:
--   read the catalog: categories, books (the policies decide which rows), characters without
--     system_prompt (the prompt is the backend's; the GraphQL API does not show it either);
--   create its books (pending, its own file) and its chat sessions;
--   read its own sessions and messages;
--   rename a session (title only: message_count, preview, book_id and character_id are written
--     by the backend alone).
-- anon gets nothing. The gateway and its workers use the service role, which keeps every
-- privilege and bypasses row-level security.

revoke all on all tables in schema public from public, anon, authenticated;
revoke all on all sequences in schema public from public, anon, authenticated;
revoke all on all functions in schema public from public, anon, authenticated;

-- What later migrations create is the service role's only, until granted on purpose.
alter default privileges in schema public revoke all on tables from anon, authenticated;
alter default privileges in schema public revoke all on sequences from anon, authenticated;
alter default privileges in schema public revoke all on functions from anon, authenticated;
alter default privileges revoke execute on functions from public;

grant all on all tables in schema public to service_role;
grant all on all sequences in schema public to service_role;
grant execute on all functions in schema public to service_role;

grant select on public.categories to authenticated;

grant select on public.books to authenticated;
grant insert (user_id, title, author, description, category_id, cover_url, storage_path,
              processing_status)
  on public.books to authenticated;

grant select (id, book_id, name, safe_name, description, personality, avatar_url, created_at)
  on public.characters to authenticated;

grant select on public.chat_sessions to authenticated;
grant insert (user_id, character_id, book_id, title) on public.chat_sessions to authenticated;
grant update (title) on public.chat_sessions to authenticated;

grant select on public.messages to authenticated;

-- Storage's own grants on its object rows are what Supabase makes them; the policies on them are
-- in the private uploads migration. Nobody but the service role may empty the table at once.
revoke truncate, references, trigger on storage.objects from anon, authenticated;
