import DataLoader from 'dataloader';
import type { Deps } from './deps.js';
import type { BookRow, CharacterRow, ChatSessionRow, MessageRow } from './models.js';

export type Loaders = ReturnType<typeof createLoaders>;

/**
 * Per-request DataLoaders (made in the context factory, never shared between requests). Each batch
 * function returns one result per key, in key order. Books and characters go through the Redis
 * read-through caches; a book's character list through a short in-process id list; a message's
 * versions in one read per page.
 */
export function createLoaders(deps: Deps) {
  const book = new DataLoader<string, BookRow | null>((ids) => deps.caches.book.getMany(ids));
  const character = new DataLoader<string, CharacterRow | null>((ids) =>
    deps.caches.character.getMany(ids),
  );

  const charactersByBook = new DataLoader<string, CharacterRow[]>(async (bookIds) => {
    const listed = new Map<string, string[]>();
    const unknown: string[] = [];
    for (const id of bookIds) {
      const ids = deps.caches.characterIdsByBook.get(id);
      if (ids) listed.set(id, ids);
      else unknown.push(id);
    }
    const result = new Map<string, CharacterRow[]>();
    if (unknown.length > 0) {
      const rows = await deps.catalogStore.charactersOfBooks(unknown);
      for (const id of unknown) result.set(id, []);
      for (const row of rows) {
        result.get(row.book_id)?.push(row);
        character.prime(row.id, row);
      }
      for (const [id, list] of result) {
        deps.caches.characterIdsByBook.set(
          id,
          list.map((c) => c.id),
        );
      }
      await deps.caches.character.write(rows);
    }
    if (listed.size > 0) {
      const all = await character.loadMany([...listed.values()].flat());
      let i = 0;
      for (const [id, ids] of listed) {
        const rows: CharacterRow[] = [];
        for (let k = 0; k < ids.length; k++, i++) {
          const row = all[i];
          if (row && !(row instanceof Error)) rows.push(row);
          else if (row instanceof Error) throw row;
        }
        result.set(id, rows);
      }
    }
    return bookIds.map((id) => result.get(id) ?? []);
  });

  const session = new DataLoader<string, ChatSessionRow | null>(async (ids) => {
    const rows = await deps.chatStore.sessionsByIds(ids);
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ids.map((id) => byId.get(id) ?? null);
  });

  // A message's versions, keyed by the first version's id: one read for a whole page.
  const versions = new DataLoader<string, MessageRow[]>(async (rootIds) => {
    const rows = await deps.chatStore.versionsOf(rootIds);
    return rootIds.map((id) => rows.filter((m) => m.id === id || m.alternative_of === id));
  });

  return { book, character, charactersByBook, session, versions };
}
