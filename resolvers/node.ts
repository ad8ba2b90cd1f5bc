import type { SignedInContext } from '../src/context.js';
import type { NodeValue } from '../src/services/node-service.js';

const typeOfRow = new WeakMap<object, NodeValue['type']>();

const unwrap = (value: NodeValue | null) => {
  if (!value) return null;
  typeOfRow.set(value.row, value.type);
  return value.row;
};

export const nodeType = (row: object) => typeOfRow.get(row) ?? null;

export const node = async (_root: unknown, args: { id: string }, ctx: SignedInContext) => {
  const [value] = await ctx.services.nodes.nodes(ctx.viewer, [args.id]);
  return unwrap(value ?? null);
};

export const nodes = async (_root: unknown, args: { ids: string[] }, ctx: SignedInContext) =>
  (await ctx.services.nodes.nodes(ctx.viewer, args.ids)).map(unwrap);
