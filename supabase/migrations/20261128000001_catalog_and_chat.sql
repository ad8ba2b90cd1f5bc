-- Falsafa's tables: the catalog (categories, books, characters) and the chats (sessions, messages).
-- Keys and column names are the shared data contract; add columns, never rename these.

create extension if not exists pgcrypto;

create table if not exists public.categories (
  id uuid primary key default gen_random_uuid(),
  name text not null,
  slug text unique,
  description text,
  created_at timestamptz not null default now()
);

create table if not exists public.books (
  id uuid primary key default gen_random_uuid(),
  user_id uuid,
  title text not null check (length(title) between 1 and 500),
  author text,
  description text,
  category_id uuid references public.categories (id) on delete set null,
  cover_url text,
  storage_path text,
  processing_status text not null default 'pending'
    check (processing_status in ('pending', 'processing', 'completed', 'failed')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table if not exists public.characters (
  id uuid primary key default gen_random_uuid(),
  book_id uuid not null references public.books (id) on delete cascade,
  name text not null,
  safe_name text not null check (safe_name ~ '^[a-z0-9][a-z0-9_-]{0,79}$'),
  description text,
  personality text,
  system_prompt text not null,
  avatar_url text,
  created_at timestamptz not null default now(),
  unique (book_id, safe_name)
);

create table if not exists public.chat_sessions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null,
  character_id uuid not null references public.characters (id) on delete cascade,
  book_id uuid not null references public.books (id) on delete cascade,
  title text,
  message_count integer not null default 0 check (message_count >= 0),
  preview text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table if not exists public.messages (
  id uuid primary key default gen_random_uuid(),
  session_id uuid not null references public.chat_sessions (id) on delete cascade,
  role text not null check (role in ('user', 'assistant', 'system')),
  content text not null,
  citations jsonb,
  client_message_id uuid,
  created_at timestamptz not null default now(),
  unique (session_id, created_at),
  unique (session_id, client_message_id)
);

-- Indexes for the gateway's reads: pages of books by recency, characters by book,
-- a reader's sessions newest first, a session's messages in time order
-- (the unique (session_id, created_at) constraint already indexes the last one).
create index if not exists books_created_at_idx on public.books (created_at desc, id desc);
create index if not exists books_category_idx on public.books (category_id, created_at desc);
create index if not exists books_status_idx on public.books (processing_status, created_at desc);
create index if not exists characters_book_idx on public.characters (book_id, name, id);
create index if not exists chat_sessions_user_recent_idx
  on public.chat_sessions (user_id, updated_at desc, id desc);

create or replace function public.touch_updated_at() returns trigger
language plpgsql as $$
begin
  new.updated_at := now();
  return new;
end;
$$;

drop trigger if exists books_touch_updated_at on public.books;
create trigger books_touch_updated_at before update on public.books
  for each row execute function public.touch_updated_at();

drop trigger if exists chat_sessions_touch_updated_at on public.chat_sessions;
create trigger chat_sessions_touch_updated_at before update on public.chat_sessions
  for each row execute function public.touch_updated_at();
