-- Book files are private to the reader who uploads them. Supabase's convention: an object in the
-- `books` bucket is named `{user_id}/...`, and only that reader may upload, read, replace or
-- delete it. A books row may point only at a file under its inserting reader's own prefix, with
-- no empty, `.` or `..` segment (ingestion checks the same against the book's owner).

drop policy if exists books_insert_own on public.books;
create policy books_insert_own on public.books for insert to authenticated
  with check (
    user_id = auth.uid()
    and processing_status = 'pending'
    and (
      storage_path is null
      or (
        split_part(storage_path, '/', 1) = auth.uid()::text
        and position('/' in storage_path) > 0
        and storage_path !~ '(^|/)(\.\.?)?(/|$)'
      )
    )
  );

-- Readers are granted no UPDATE on books; should one ever be granted, this still binds the row
-- and its file to the reader.
drop policy if exists books_update_own on public.books;
create policy books_update_own on public.books as restrictive for update to authenticated
  using (user_id = auth.uid())
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
