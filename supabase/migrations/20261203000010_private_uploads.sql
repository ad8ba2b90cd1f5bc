-- Book files are private to the reader who uploads them. Supabase's convention: an object in the
-- `books` bucket is named `{user_id}/...`, and only that reader may upload, read, replace or
-- delete it. A books row may point only at a file under its inserting reader's own prefix, with
-- no empty, `.` or `..` segment (ingestion checks the same against the book's owner).

-- One restrictive policy, so it narrows every permissive one: whatever a reader inserts into books,
-- or updates there should UPDATE ever be granted, is their own row on their own file.
drop policy if exists books_storage_path_own on public.books;
create policy books_storage_path_own on public.books as restrictive for all to authenticated
  using (true)
  with check (
    user_id = auth.uid()
    and (
      storage_path is null
      or (
        split_part(storage_path, '/', 1) = auth.uid()::text
        and position('/' in storage_path) > 0
        and storage_path !~ '(^|/)(\.\.?)?(/|$)'
      )
    )
  );

drop policy if exists books_objects_read_own on storage.objects;
create policy books_objects_read_own on storage.objects for select to authenticated
  using (bucket_id = 'books' and (storage.foldername(name))[1] = auth.uid()::text);

drop policy if exists books_objects_insert_own on storage.objects;
create policy books_objects_insert_own on storage.objects for insert to authenticated
  with check (bucket_id = 'books' and (storage.foldername(name))[1] = auth.uid()::text);

drop policy if exists books_objects_update_own on storage.objects;
create policy books_objects_update_own on storage.objects for update to authenticated
  using (bucket_id = 'books' and (storage.foldername(name))[1] = auth.uid()::text)
  with check (bucket_id = 'books' and (storage.foldername(name))[1] = auth.uid()::text);

drop policy if exists books_objects_delete_own on storage.objects;
create policy books_objects_delete_own on storage.objects for delete to authenticated
  using (bucket_id = 'books' and (storage.foldername(name))[1] = auth.uid()::text);
