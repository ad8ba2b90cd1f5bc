import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type ExecutionArgs, type ExecutionResult, GraphQLError, parse } from 'graphql';
import { CloseCode, type ConnectionInitMessage } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { type WebSocket, WebSocketServer } from 'ws';
import { schema } from '../../schema/index.js';
import type { Authenticator } from '../auth.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { withCode } from '../observability/plugin.js';
import { requestError } from '../security/errors.js';
import { isAsyncIterable } from '../util/async-iterable.js';
import type { App } from '../yoga.js';
import type { Lifecycle } from './lifecycle.js';

/** graphql-ws needs a document to pick execute or subscribe; both hand back what yoga gave. */
const RESULT_DOCUMENT = parse('query ResultOfYoga { __typename }');

interface WebSocketOptions {
  auth: Authenticator;
  logger: Logger;
  security: Pick<Config['security'], 'bodyLimitBytes' | 'cors'>;
  lifecycle: Lifecycle;
  /** How often the server pings each socket; one not answering by the next ping is dropped. */
  keepAliveMs?: number;
  graphqlEndpoint?: string;
}

export interface GraphQLWebSocket {
  /** Closes every socket with 1001 (going away) and stops taking new ones. */
  close(): Promise<void>;
  readonly connections: number;
}

type Extra = {
  socket: WebSocket;
  request: IncomingMessage;
  operations: Map<string, AbortController>;
};

/**
 * GraphQL over WebSocket (the graphql-ws protocol, subprotocol `graphql-transport-ws`) on the
 * GraphQL path of `server`. The access token comes in `connection_init`'s payload
 * (`{ authorization: 'Bearer <jwt>' }`): checked there (refused: close 4403 Forbidden), and again
 * for each operation, as each runs through the same pipeline as an HTTP request
 * (`app.getResultForParams`): persisted or trusted documents, variables depth, the auth gate,
 * depth and cost limits, rate limits, ownership and error masking, with the same error codes. A
 * message is limited to BODY_LIMIT_BYTES (close 1009). An upgrade from an origin the CORS
 * allowlist does not hold is refused with 403; while draining upgrades get 503 and operations
 * SERVICE_UNAVAILABLE. Sockets are pinged every `keepAliveMs`.
 */
export function attachGraphQLWebSocket(
  server: Server,
  app: App,
  options: WebSocketOptions,
): GraphQLWebSocket {
  const path = options.graphqlEndpoint ?? '/graphql';
  const allowed = options.security.cors.origins ? new Set(options.security.cors.origins) : null;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: options.security.bodyLimitBytes,
  });
  const refuse = (socket: Duplex, status: number, reason: string) => {
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  };
  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (new URL(request.url ?? '/', 'http://gateway').pathname !== path) {
      refuse(socket, 404, 'Not Found');
      return;
    }
    if (options.lifecycle.isDraining) {
      refuse(socket, 503, 'Service Unavailable');
      return;
    }
    const origin = request.headers.origin;
    if (origin !== undefined && allowed && !allowed.has(origin)) {
      refuse(socket, 403, 'Forbidden');
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
  };
  server.on('upgrade', onUpgrade);

  const tokenOf = (params: ConnectionInitMessage['payload']) => {
    const value = params?.authorization ?? params?.Authorization;
    return typeof value === 'string' ? value : null;
  };
  const disposable = useServer<ConnectionInitMessage['payload'], Extra>(
    {
      async onConnect(ctx) {
        const auth = await options.auth.authenticate(tokenOf(ctx.connectionParams));
        if (auth.ok) return true;
        ctx.extra.socket.close(CloseCode.Forbidden, `Forbidden: ${auth.reason} access token`);
        return false;
      },
      async onSubscribe(ctx, id, payload) {
        if (options.lifecycle.isDraining) {
          return [
            requestError('SERVICE_UNAVAILABLE', 'The gateway is shutting down; retry shortly'),
          ];
        }
        ctx.extra.operations ??= new Map();
        const controller = new AbortController();
        ctx.extra.operations.set(id, controller);
        const authorization = tokenOf(ctx.connectionParams);
        const request = new Request(`http://gateway${path}`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-request-id': randomUUID(),
            ...(authorization ? { authorization } : {}),
          },
          signal: controller.signal,
        });
        const params = {
          ...(payload.query ? { query: payload.query } : {}),
          ...(payload.operationName ? { operationName: payload.operationName } : {}),
          ...(payload.variables ? { variables: payload.variables } : {}),
          extensions: payload.extensions ?? {},
        };
        let result: Awaited<ReturnType<App['getResultForParams']>>;
        try {
          result = await app.getResultForParams({ params, request }, {
            req: ctx.extra.request,
            socket: ctx.extra.socket,
          } as never);
        } catch (err) {
          // Refusals of the request's parameters (persisted queries, variables depth) throw.
          if (err instanceof GraphQLError) return [toWire(err)];
          options.logger.error({ err }, 'unexpected error');
          return [
            new GraphQLError('Unexpected error.', {
              extensions: { code: 'INTERNAL_SERVER_ERROR' },
            }),
          ];
        }
        if (isAsyncIterable(result))
          return { schema, document: RESULT_DOCUMENT, rootValue: result };
        const plain = result as ExecutionResult;
        // Refused before execution: the protocol's `error` message, as HTTP answers errors alone.
        if (plain.data === undefined && plain.errors?.length) {
          return plain.errors.map((e) => toWire(e as GraphQLError));
        }
        return { schema, document: RESULT_DOCUMENT, rootValue: plain };
      },
      execute: (args: ExecutionArgs) => args.rootValue as ExecutionResult,
      subscribe: (args: ExecutionArgs) => args.rootValue as ExecutionResult,
      onNext(_ctx, _id, _payload, _args, result) {
        if (!result.errors?.length) return;
        return {
          ...result,
          errors: result.errors.map((e) => toWire(e as GraphQLError).toJSON()),
        } as never;
      },
      onComplete(ctx, id) {
        ctx.extra.operations?.get(id)?.abort();
        ctx.extra.operations?.delete(id);
      },
      onClose(ctx) {
        for (const controller of ctx.extra.operations?.values() ?? []) controller.abort();
        ctx.extra.operations?.clear();
      },
    },
    wss,
    options.keepAliveMs ?? 12_000,
  );

  let closing: Promise<void> | undefined;
  return {
    get connections() {
      return wss.clients.size;
    },
    close() {
      server.off('upgrade', onUpgrade);
      closing ??= Promise.resolve(disposable.dispose());
      return closing;
    },
  };
}

/** An error as the client sees it over HTTP: with its code, without the HTTP status. */
function toWire(error: GraphQLError): GraphQLError {
  const coded = withCode(error instanceof GraphQLError ? error : new GraphQLError(String(error)));
  const { http: _http, ...extensions } = coded.extensions ?? {};
  return new GraphQLError(coded.message, {
    path: coded.path ?? null,
    positions: coded.positions ?? null,
    extensions,
  });
}
