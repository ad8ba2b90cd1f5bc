import { readFileSync } from 'node:fs';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { type DocumentNode, Kind, type OperationDefinitionNode } from 'graphql';
import {
  createYoga,
  type Plugin,
  type YogaServerInstance,
  maskError as yogaMaskError,
} from 'graphql-yoga';
import { schema } from '../schema/index.js';
import { AUTH_MESSAGES } from './auth.js';
import { type Context, makeContextFactory } from './context.js';
import type { Deps } from './deps.js';
import { AppError } from './errors.js';

/**
 * Builds the HTTP app (no listening here: tests call `app.fetch` in-process, `main.ts` serves it).
 * Error masking stays on: only AppErrors (stable `extensions.code`) reach clients unchanged.
 */
export interface AppOptions {
  /** Pre-filled in GraphiQL's headers (embedded mode's development token). */
  graphiqlToken?: string;
  /** Variables for GraphiQL's example tabs (the demo book and session, when there is one). */
  examples?: { bookId?: string; sessionId?: string };
}

export type App = YogaServerInstance<Record<string, unknown>, Context>;

export function createApp(deps: Deps, options: AppOptions = {}): App {
  const { logger, config } = deps;
  return createYoga<Record<string, unknown>, Context>({
    schema,
    context: makeContextFactory(deps),
    graphqlEndpoint: '/graphql',
    landingPage: false,
    maskedErrors: {
      maskError(error, message, isDev) {
        logger.error({ err: error }, 'unexpected error');
        return yogaMaskError(error, message, isDev);
      },
    },
    logging: {
      debug: (...args) => logger.debug(args.map(String).join(' ')),
      info: (...args) => logger.info(args.map(String).join(' ')),
      warn: (...args) => logger.warn(args.map(String).join(' ')),
      error: (...args) => logger.error(args.map(String).join(' ')),
    },
    graphiql: config.graphiql ? graphiqlOptions(options) : false,
    renderGraphiQL,
    plugins: [useAuthGate()],
  });
}

/** Every operation needs a signed-in reader, except pure introspection; stores are not touched. */
function useAuthGate(): Plugin<Context> {
  const reject = (ctx: Context) =>
    new AppError('UNAUTHENTICATED', AUTH_MESSAGES[ctx.authFailure ?? 'missing']);
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const ctx = args.contextValue;
      if (ctx.viewer || isIntrospectionOnly(args.document, args.operationName)) return;
      setResultAndStopExecution({ errors: [reject(ctx)] });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const ctx = args.contextValue;
      if (ctx.viewer) return;
      setResultAndStopExecution({ errors: [reject(ctx)] });
    },
  };
}

function isIntrospectionOnly(document: DocumentNode, operationName?: string | null): boolean {
  const op = document.definitions.find(
    (d): d is OperationDefinitionNode =>
      d.kind === Kind.OPERATION_DEFINITION && (!operationName || d.name?.value === operationName),
  );
  if (op?.operation !== 'query') return false;
  return op.selectionSet.selections.every(
    (s) =>
      s.kind === Kind.FIELD &&
      (s.name.value === '__schema' || s.name.value === '__type' || s.name.value === '__typename'),
  );
}

function operation(name: string): string {
  return readFileSync(new URL(`../client/operations/${name}.graphql`, import.meta.url), 'utf8');
}

function graphiqlOptions(options: AppOptions) {
  const headers = options.graphiqlToken
    ? JSON.stringify({ Authorization: `Bearer ${options.graphiqlToken}` }, null, 2)
    : JSON.stringify({ Authorization: 'Bearer <Supabase access token>' }, null, 2);
  const bookId = options.examples?.bookId ?? '<book id>';
  const sessionId = options.examples?.sessionId ?? '<chat session id>';
  return {
    title: 'Falsafa gateway',
    headers,
    shouldPersistHeaders: false,
    defaultEditorToolsVisibility: true as const,
    defaultTabs: [
      { query: operation('Catalog'), headers },
      { query: operation('BookPage'), variables: JSON.stringify({ id: bookId }, null, 2), headers },
      { query: operation('ChatPage'), variables: JSON.stringify({ sessionId }, null, 2), headers },
      { query: operation('MyChats'), headers },
    ],
  };
}
