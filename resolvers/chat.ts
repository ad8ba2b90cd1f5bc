import type { GraphQLResolveInfo } from 'graphql';
import type { Context, SignedInContext } from '../src/context.js';
import { selectsField } from '../src/graphql-selection.js';
import type { ChatSessionRow } from '../src/models.js';
import type { PageArgs } from '../src/services/pagination.js';

export const viewer = (_root: unknown, _args: unknown, ctx: SignedInContext) => ctx.viewer;

export const chatSession = (_root: unknown, args: { id: string }, ctx: SignedInContext) =>
  ctx.services.sessions.session(ctx.viewer, args.id);

export const chatSessions = (
  _root: unknown,
  args: PageArgs,
  ctx: SignedInContext,
  info: GraphQLResolveInfo,
) => ctx.services.sessions.sessions(ctx.viewer, args, { count: selectsField(info, 'totalCount') });

type PositionArg = { chapter?: number | null; percent?: number | null } | null;

export const createChatSession = (
  _root: unknown,
  args: { input: { characterId: string; title?: string | null; readingPosition?: PositionArg } },
  ctx: SignedInContext,
) => ctx.services.sessions.create(ctx.viewer, args.input);

export const setReadingPosition = (
  _root: unknown,
  args: { input: { sessionId: string; readingPosition?: PositionArg } },
  ctx: SignedInContext,
) => ctx.services.sessions.setReadingPosition(ctx.viewer, args.input);

export const renameChatSession = (
  _root: unknown,
  args: { input: { sessionId: string; title: string } },
  ctx: SignedInContext,
) => ctx.services.sessions.rename(ctx.viewer, args.input);

export const deleteChatSession = (
  _root: unknown,
  args: { input: { sessionId: string } },
  ctx: SignedInContext,
) => ctx.services.sessions.delete(ctx.viewer, args.input.sessionId);

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

export const sessionMessages = (
  session: ChatSessionRow,
  args: PageArgs,
  ctx: Context,
  info: GraphQLResolveInfo,
) => ctx.services.sessions.messages(session, args, { count: selectsField(info, 'totalCount') });
