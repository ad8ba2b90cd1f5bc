import * as r from '../resolvers/node.js';
import { builder } from './builder.js';

export const Node = builder.interfaceRef<{ id: string }>('Node').implement({
  description:
    'An object with an id: Book, Character, ChatSession or Message. Ids are the raw UUIDs the rows have in Supabase, the same the typed fields return',
  resolveType: (row) => {
    const type = r.nodeType(row);
    if (!type) throw new Error('a Node was resolved without its type');
    return type;
  },
  fields: (t) => ({ id: t.exposeID('id') }),
});

const RESOLUTION =
  "An id is resolved by trying each type in turn (Book, Character, ChatSession, Message) with its loader; the first found answers. Another reader's session, or a message of one, is null, as an unknown id is";

builder.queryFields((t) => ({
  node: t.withAuth({ signedIn: true }).field({
    type: Node,
    nullable: true,
    description: `The object with this id, or null. ${RESOLUTION}`,
    args: { id: t.arg.id({ required: true }) },
    resolve: r.node,
  }),
  nodes: t.withAuth({ signedIn: true }).field({
    type: [Node],
    nullable: { list: false, items: true },
    description: `The objects with these ids, in their order (null for each not found). ${RESOLUTION}`,
    args: { ids: t.arg.idList({ required: true }) },
    resolve: r.nodes,
  }),
}));
