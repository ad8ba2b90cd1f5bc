import SchemaBuilder from '@pothos/core';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { AUTH_MESSAGES } from '../src/auth.js';
import type { Context, SignedInContext } from '../src/context.js';
import { AppError } from '../src/errors.js';
import type { UploadedFile } from '../src/services/book-upload-service.js';

export const builder = new SchemaBuilder<{
  Context: Context;
  AuthScopes: { signedIn: boolean };
  AuthContexts: { signedIn: SignedInContext };
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: string; Output: string };
    ID: { Input: string; Output: string };
    File: { Input: UploadedFile; Output: never };
  };
}>({
  plugins: [ScopeAuthPlugin, RelayPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authScopes: (ctx) => ({ signedIn: ctx.viewer !== null }),
    unauthorizedError: (_parent, ctx) =>
      new AppError('UNAUTHENTICATED', AUTH_MESSAGES[ctx.authFailure ?? 'missing']),
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    nodeQueryOptions: false,
    nodesQueryOptions: false,
  },
});

builder.scalarType('DateTime', {
  description: 'An instant in time, as an ISO 8601 string in UTC',
  serialize: (value) => new Date(value).toISOString(),
  parseValue: (value) => {
    if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) {
      throw new AppError('BAD_USER_INPUT', 'DateTime must be an ISO 8601 string');
    }
    return new Date(value).toISOString();
  },
});

builder.queryType({ description: 'Reads. Every field needs a signed-in reader.' });
builder.mutationType({ description: 'Writes. Every field needs a signed-in reader.' });
builder.subscriptionType({
  description: 'Live updates over SSE. Every field needs a signed-in reader.',
});
