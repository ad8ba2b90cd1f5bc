import * as r from '../resolvers/chat.js';
import type { Viewer as ViewerShape } from '../src/auth.js';
import { builder } from './builder.js';

export const Viewer = builder.objectRef<ViewerShape>('Viewer').implement({
  description: 'The signed-in reader',
  fields: (t) => ({
    id: t.exposeID('id'),
    email: t.string({ nullable: true, resolve: (v) => v.email ?? null }),
  }),
});

builder.queryFields((t) => ({
  viewer: t.withAuth({ signedIn: true }).field({ type: Viewer, resolve: r.viewer }),
}));
