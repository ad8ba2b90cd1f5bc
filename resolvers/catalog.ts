import type { Context, SignedInContext } from '../src/context.js';
import type { BookRow, CharacterRow, ProcessingStatusValue } from '../src/models.js';
import type { PageArgs } from '../src/services/pagination.js';

export const categories = (_root: unknown, _args: unknown, ctx: SignedInContext) =>
  ctx.services.catalog.categories();

export const book = (_root: unknown, args: { id: string }, ctx: SignedInContext) =>
  ctx.services.catalog.requireBook(args.id);

export const books = (
  _root: unknown,
  args: PageArgs & { categoryId?: string | null; status?: ProcessingStatusValue | null },
  ctx: SignedInContext,
) => ctx.services.catalog.books(args);

export const character = (_root: unknown, args: { id: string }, ctx: SignedInContext) =>
  ctx.services.catalog.requireCharacter(args.id);

export const bookCharacters = (book: BookRow, _args: unknown, ctx: Context) =>
  ctx.services.catalog.charactersOfBook(book.id);

export const bookCharacterConnection = (book: BookRow, args: PageArgs, ctx: Context) =>
  ctx.services.catalog.characterPage(book.id, args);

export const characterBook = async (character: CharacterRow, _args: unknown, ctx: Context) => {
  const row = await ctx.services.catalog.book(character.book_id);
  if (!row)
    throw new Error(`character ${character.id} points at missing book ${character.book_id}`);
  return row;
};
