import { createServer, type Server } from 'node:http';
import type { App } from '../yoga.js';
import type { Lifecycle } from './lifecycle.js';

/**
 * The node:http server for the app. Keep-alive outlives the usual load-balancer idle timeout (60 s)
 * so the balancer, not the gateway, closes idle connections; while draining, every response asks
 * the client to close its connection.
 */
export function createGatewayServer(app: App, lifecycle: Lifecycle): Server {
  const server = createServer((req, res) => {
    if (lifecycle.isDraining) res.setHeader('connection', 'close');
    void app(req, res);
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  return server;
}

/**
 * Stops the server in the order a graceful shutdown needs: no new connections, idle keep-alive
 * connections closed now; `closeAll` ends the rest (long-lived streams) once the drain is over.
 */
export function stopAccepting(server: Server): { closed: Promise<void>; closeAll: () => void } {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  return { closed, closeAll: () => server.closeAllConnections() };
}
