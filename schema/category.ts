import * as r from '../resolvers/catalog.js';
import { builder } from './builder.js';
import { Category } from './refs.js';

Category.implement({
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
