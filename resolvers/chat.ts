import type { Context, SignedInContext } from '../src/context.js';
import { parseId } from '../src/errors.js';
import type { PageArgs } from '../src/services/pagination.js';
import type { ChatSessionRow } from '../src/stores/rows.js';

export const viewer = (_root: unknown, _args: unknown, ctx: SignedInContext) => ctx.viewer;

export const chatSession = (_root: unknown, args: { id: string }, ctx: SignedInContext) =>
  ctx.services.sessions.session(ctx.viewer, parseId(args.id));

export const chatSessions = (_root: unknown, args: PageArgs, ctx: SignedInContext) =>
  ctx.services.sessions.sessions(ctx.viewer, args);

export const createChatSession = (
  _root: unknown,
  args: { input: { characterId: string; title?: string | null } },
  ctx: SignedInContext,
) =>
  ctx.services.sessions.create(ctx.viewer, {
    characterId: parseId(args.input.characterId, 'characterId'),
    title: args.input.title,
  });

export const sessionCharacter = async (session: ChatSessionRow, _args: unknown, ctx: Context) => {
  const row = await ctx.services.catalog.character(session.character_id);
  if (!row) throw new Error(`session ${session.id} points at missing character`);
  return row;
};

export const sessionBook = async (session: ChatSessionRow, _args: unknown, ctx: Context) => {
  const row = await ctx.services.catalog.book(session.book_id);
  if (!row) throw new Error(`session ${session.id} points at missing book`);
  return row;
};

export const sessionMessages = (session: ChatSessionRow, args: PageArgs, ctx: Context) =>
  ctx.services.sessions.messages(session, args);
