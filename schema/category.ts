import * as r from '../resolvers/catalog.js';
import type { CategoryRow } from '../src/models.js';
import { builder } from './builder.js';

export const Category = builder.objectRef<CategoryRow>('Category').implement({
  description: 'A shelf of the catalog',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    slug: t.exposeString('slug', { nullable: true }),
  }),
});

builder.queryFields((t) => ({
  categories: t.withAuth({ signedIn: true }).field({
    type: [Category],
    description: 'Every category, by name',
    resolve: r.categories,
  }),
}));
