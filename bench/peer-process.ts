import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { failStartup, serveCommands } from './ipc.js';

/**
 * The peer: PostGraphile 5 serving the same PostgreSQL database as the gateway's Supabase, as a
 * frontend team could run it instead (Amber preset with simplified inflection, node:http on
 * 127.0.0.1). Installed outside the project (bench/install-candidates.sh, under
 * BENCH_EXTRA_MODULES). The reader's Supabase token is verified (HS256) and turned into
 * `pgSettings` (role `authenticated`, `request.jwt.claims`), so row-level security applies as
 * behind PostgREST. Every query PostGraphile sends to PostgreSQL is counted (one round trip each).
 */
const env = process.env;
const extra = env.BENCH_EXTRA_MODULES ?? '';
const databaseUrl = env.BENCH_PEER_DATABASE_URL ?? '';
const secret = env.BENCH_JWT_SECRET ?? '';

// PostGraphile 5 asks for Node 22; Promise.withResolvers is the one API it needs from it.
if (!(Promise as { withResolvers?: unknown }).withResolvers) {
  Object.assign(Promise, {
    withResolvers<T>() {
      let resolve!: (v: T) => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<T>((a, b) => {
        resolve = a;
        reject = b;
      });
      return { promise, resolve, reject };
    },
  });
}

const require = createRequire(join(extra, 'package.json'));
const load = (specifier: string) => import(pathToFileURL(require.resolve(specifier)).href);

/** The claims of a valid HS256 token, else null (what the gateway's auth gate checks). */
function verify(header: string | undefined): Record<string, unknown> | null {
  const token = header?.startsWith('Bearer ') ? header.slice(7) : '';
  const [h, p, s] = token.split('.');
  if (!h || !p || !s) return null;
  const mac = createHmac('sha256', secret).update(`${h}.${p}`).digest();
  const sig = Buffer.from(s, 'base64url');
  if (sig.length !== mac.length || !timingSafeEqual(sig, mac)) return null;
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
  if (typeof claims.exp === 'number' && claims.exp * 1000 < Date.now()) return null;
  return claims;
}

async function main() {
  if (!extra || !databaseUrl) throw new Error('BENCH_EXTRA_MODULES and BENCH_PEER_DATABASE_URL');
  const { postgraphile } = await load('postgraphile');
  const { PostGraphileAmberPreset } = await load('postgraphile/presets/amber');
  const { makePgService } = await load('postgraphile/adaptors/pg');
  const { grafserv } = await load('postgraphile/grafserv/node');
  const { PgSimplifyInflectionPreset } = await load('@graphile/simplify-inflection');
  const pg = (await load('pg')).default;

  let queries = 0;
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
  pool.on('connect', (client: { query: (...args: unknown[]) => unknown }) => {
    const query = client.query.bind(client);
    client.query = (...args: unknown[]) => {
      queries++;
      return query(...args);
    };
  });

  const preset = {
    extends: [PostGraphileAmberPreset, PgSimplifyInflectionPreset],
    pgServices: [makePgService({ pool, schemas: ['public'] })],
    grafserv: { graphqlPath: '/graphql', graphiql: false },
    grafast: {
      explain: false,
      context(requestContext: { node?: { req?: { headers: Record<string, string> } } }) {
        const claims = verify(requestContext.node?.req?.headers.authorization);
        if (!claims) return { pgSettings: { role: 'anon' } };
        return {
          pgSettings: {
            role: String(claims.role ?? 'authenticated'),
            'request.jwt.claims': JSON.stringify(claims),
            'request.jwt.claim.sub': String(claims.sub ?? ''),
          },
        };
      },
    },
  };
  const pgl = postgraphile(preset);
  const serv = pgl.createServ(grafserv);
  const server = createServer();
  server.keepAliveTimeout = 30_000;
  serv.addTo(server);
  await pgl.getSchema();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
  serveCommands(
    { url },
    {
      cpu: () => {
        const c = process.cpuUsage();
        return { userMs: c.user / 1000, systemMs: c.system / 1000 };
      },
      counterReset: () => {
        queries = 0;
        return true;
      },
      counterSnapshot: () => ({ 'postgres:query': queries }),
      close: async () => {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await pgl.release();
        await pool.end();
        setTimeout(() => process.exit(0), 20).unref();
        return true;
      },
    },
  );
}

main().catch(failStartup);
