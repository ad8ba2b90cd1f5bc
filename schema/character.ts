import * as r from '../resolvers/catalog.js';
import { builder } from './builder.js';
import { Node } from './node.js';
import { Book, Character } from './refs.js';

Character.implement({
  interfaces: [Node],
  description: 'A character of a book that readers can talk with (its system prompt stays private)',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    description: t.exposeString('description', { nullable: true }),
    personality: t.string({ nullable: true, resolve: (c) => c.personality ?? null }),
    avatarUrl: t.exposeString('avatar_url', { nullable: true }),
    book: t.field({ type: Book, resolve: r.characterBook }),
  }),
});

builder.queryFields((t) => ({
  character: t.withAuth({ signedIn: true }).field({
    type: Character,
    nullable: true,
    description: 'One character of a book; an unknown id is NOT_FOUND',
    args: { id: t.arg.id({ required: true }) },
    resolve: r.character,
  }),
}));
