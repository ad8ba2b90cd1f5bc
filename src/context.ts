import { randomUUID } from 'node:crypto';
import type { AuthResult, Viewer } from './auth.js';
import type { Deps } from './deps.js';
import { createLoaders, type Loaders } from './loaders.js';
import type { Logger } from './logger.js';
import { ResponseWarnings, type Retriever } from './observability/warnings.js';
import { BookProcessingService } from './services/book-processing-service.js';
import { BookUploadService } from './services/book-upload-service.js';
import { CatalogService } from './services/catalog-service.js';
import { ChatBranchService } from './services/chat-branch-service.js';
import { ChatSessionService } from './services/chat-session-service.js';
import { ChatTurnService } from './services/chat-turn-service.js';
import { NodeService } from './services/node-service.js';
import { SearchService } from './services/search-service.js';

/**
 * The per-request context: authenticated once (locally, no store touched), with a request id, the
 * request's own DataLoaders and the services that use them.
 */
export interface Context {
  request: Request;
  requestId: string;
  viewer: Viewer | null;
  /** The viewer's verified access token (for writes made as the reader); null without a viewer. */
  accessToken: string | null;
  /** When that token expires (epoch milliseconds); null without a viewer. */
  accessTokenExpiresAt: number | null;
  authFailure: Exclude<AuthResult, { ok: true }>['reason'] | null;
  logger: Logger;
  loaders: Loaders;
  /** What the response should warn of (`extensions.warnings`), added by the services. */
  warnings: ResponseWarnings;
  services: {
    catalog: CatalogService;
    sessions: ChatSessionService;
    processing: BookProcessingService;
    turns: ChatTurnService;
    branches: ChatBranchService;
    search: SearchService;
    uploads: BookUploadService;
    nodes: NodeService;
  };
}

export type SignedInContext = Context & { viewer: Viewer; accessToken: string };

const REQUEST_ID_RE = /^[A-Za-z0-9._-]{8,64}$/;

export function makeContextFactory(
  deps: Deps,
  hooks: { onSearchDegraded?: (unavailable: Retriever) => void } = {},
) {
  return async ({ request }: { request: Request }): Promise<Context> => {
    const given = request.headers.get('x-request-id');
    const requestId = given && REQUEST_ID_RE.test(given) ? given : randomUUID();
    const authorization = request.headers.get('authorization');
    const auth = await deps.auth.authenticate(authorization);
    const loaders = createLoaders(deps);
    const warnings = new ResponseWarnings(hooks.onSearchDegraded);
    const viewer = auth.ok ? auth.viewer : null;
    return {
      request,
      requestId,
      viewer,
      accessToken: viewer && authorization ? authorization.trim().replace(/^Bearer\s+/i, '') : null,
      accessTokenExpiresAt: auth.ok ? auth.expiresAt : null,
      authFailure: auth.ok ? null : auth.reason,
      logger: deps.logger.child({ requestId, viewerId: viewer?.id }),
      loaders,
      warnings,
      services: createServices(deps, loaders, warnings),
    };
  };
}

/**
 * The request's services, each given the process-wide parts it uses (not the whole of `deps`) and
 * the request's loaders.
 */
function createServices(
  deps: Deps,
  loaders: Loaders,
  warnings: ResponseWarnings,
): Context['services'] {
  const catalog = new CatalogService(
    {
      pageSize: deps.config.pageSize,
      catalogStore: deps.catalogStore,
      categories: deps.caches.categories,
      outline: (bookId) => deps.vectors.outline(bookId),
    },
    loaders,
  );
  const processing = new BookProcessingService(
    {
      logger: deps.logger,
      bookJobs: deps.bookJobs,
      bookCache: deps.caches.book,
      invalidation: deps.invalidation,
      progress: deps.progress,
      catalogStore: deps.catalogStore,
    },
    loaders,
  );
  const turns = new ChatTurnService(
    {
      settings: deps.config.chat,
      logger: deps.logger,
      counter: deps.counter,
      llm: deps.llm,
      locks: deps.locks,
      ...deps.chat,
      warnings,
      outline: (bookId) => deps.vectors.outline(bookId),
    },
    loaders,
  );
  return {
    catalog,
    sessions: new ChatSessionService(
      {
        pageSize: deps.config.pageSize,
        chatStore: deps.chatStore,
        locks: deps.locks,
        context: deps.chat.context,
        outline: (bookId) => deps.vectors.outline(bookId),
      },
      loaders,
    ),
    processing,
    turns,
    branches: new ChatBranchService(
      {
        settings: deps.config.chat,
        chatStore: deps.chatStore,
        turns: deps.chat.turns,
        context: deps.chat.context,
        locks: deps.locks,
        answerer: turns,
        outline: (bookId) => deps.vectors.outline(bookId),
      },
      loaders,
    ),
    search: new SearchService(
      {
        retriever: deps.chat.retriever,
        limits: deps.config.chat,
        warnings,
        outline: (bookId) => deps.vectors.outline(bookId),
      },
      loaders,
    ),
    uploads: new BookUploadService(
      {
        uploads: deps.config.uploads,
        logger: deps.logger,
        supabase: deps.supabase,
        supabaseAs: deps.supabaseAs,
        catalogStore: deps.catalogStore,
        bookCache: deps.caches.book,
      },
      catalog,
      processing,
    ),
    nodes: new NodeService(
      { maxIds: deps.config.pageSize.max, chatStore: deps.chatStore },
      loaders,
    ),
  };
}
