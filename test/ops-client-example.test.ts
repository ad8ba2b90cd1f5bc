import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExample } from '../client/example.js';
import { loadConfig } from '../src/config.js';
import { Lifecycle } from '../src/http/lifecycle.js';
import { createGatewayServer } from '../src/http/server.js';
import { loadDemoBook } from '../src/ingest/demo-book.js';
import { type App, createApp } from '../src/yoga.js';
import { ingestDemoBook, uploadBook } from './support/books.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * client/example.ts, the typed client example, against running gateways (over HTTP): one as
 * usual, one accepting trusted documents only.
 */

let gw: TestGateway;
const reader = randomUUID();
const served: { app: App; server: Server; url: string }[] = [];

async function serve(app: App): Promise<string> {
  const server = createGatewayServer(app, new Lifecycle());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
  served.push({ app, server, url });
  return url;
}

beforeAll(async () => {
  gw = await startTestGateway({ worker: true });
  await ingestDemoBook(gw, reader);
}, 60_000);
afterAll(async () => {
  for (const s of served) {
    s.server.closeAllConnections();
    await new Promise<void>((resolve) => s.server.close(() => resolve()));
    await s.app.dispose();
  }
  await gw?.close();
});

describe('client/example.ts', () => {
  it('runs the typed operations: catalog, book page, session, a turn, a streamed turn, progress', async () => {
    const url = await serve(createApp(gw.deps));
    const { bookId: pending } = await uploadBook(gw, {
      bytes: await loadDemoBook(),
      fileName: 'again.md',
      contentType: 'text/markdown',
      owner: reader,
      title: 'Again',
    });
    const lines: string[] = [];
    const summary = await runExample({
      url,
      token: await gw.token(reader),
      processBookId: pending,
      log: (l) => lines.push(l),
    });
    expect(summary.reply.length).toBeGreaterThan(0);
    expect(summary.streamedReply.length).toBeGreaterThan(0);
    expect(summary.messageCount).toBe(4);
    expect(summary.progress.at(-1)).toBe('COMPLETED');
    expect(lines.join('\n')).toContain(summary.characterName);
  }, 60_000);

  it('runs as the README says, from the command line with GATEWAY_URL and GATEWAY_TOKEN', async () => {
    const url = await serve(createApp(gw.deps));
    const run = spawn(process.execPath, ['--import', 'tsx', 'client/example.ts'], {
      cwd: new URL('..', import.meta.url).pathname,
      env: {
        PATH: process.env.PATH ?? '',
        GATEWAY_URL: url,
        GATEWAY_TOKEN: await gw.token(reader),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    run.stdout!.on('data', (c: Buffer) => {
      out += c.toString('utf8');
    });
    run.stderr!.on('data', (c: Buffer) => {
      out += c.toString('utf8');
    });
    const code = await new Promise<number | null>((resolve) => run.on('exit', resolve));
    expect(out).toContain(`signed in as ${reader}`);
    expect(code).toBe(0);
  }, 60_000);

  it('works against a gateway that runs trusted documents only', async () => {
    const url = await serve(
      createApp({ ...gw.deps, config: loadConfig({ ...gw.env, TRUSTED_DOCUMENTS: 'true' }) }),
    );
    const token = await gw.token(reader);
    const summary = await runExample({ url, token, trusted: true, log: () => {} });
    expect(summary.messageCount).toBe(4);
    // The same client sending query texts is refused there.
    await expect(runExample({ url, token, log: () => {} })).rejects.toThrow(/trusted documents/);
  }, 60_000);
});
