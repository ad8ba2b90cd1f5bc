import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSchema, createYoga } from 'graphql-yoga';
import { failStartup, serveCommands } from './ipc.js';

/**
 * The baseline: a bare graphql-yoga hello-world (yoga's defaults, one resolver, no context, no
 * stores), served by node:http on 127.0.0.1 exactly as the gateway is.
 */
async function main() {
  const yoga = createYoga({
    schema: createSchema({
      typeDefs: 'type Query { hello: String! }',
      resolvers: { Query: { hello: () => 'world' } },
    }),
    graphqlEndpoint: '/graphql',
    landingPage: false,
    graphiql: false,
    logging: false,
  });
  const server = createServer(yoga);
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
  serveCommands(
    { url },
    {
      memory: () => process.memoryUsage(),
      cpu: () => {
        const c = process.cpuUsage();
        return { userMs: c.user / 1000, systemMs: c.system / 1000 };
      },
      close: async () => {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        setTimeout(() => process.exit(0), 20).unref();
        return true;
      },
    },
  );
}

main().catch(failStartup);
