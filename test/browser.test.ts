import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lifecycle } from '../src/http/lifecycle.js';
import { createGatewayServer } from '../src/http/server.js';
import { type App, createApp } from '../src/yoga.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * GraphiQL in a real browser: headless Chromium (Debian's, driven by playwright-core) opens the
 * GraphiQL page of a running gateway, runs the pre-filled Catalog query with the pre-filled token
 * and sees the result. Skipped, saying so, where /usr/bin/chromium is missing (.ci/browser-deps
 * installs it in CI).
 */
const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(
    `[browser.test] skipped: ${CHROMIUM} is missing (apt-get install chromium, or run .ci/browser-deps)`,
  );
}

let gw: TestGateway;
let app: App;
let server: Server;
let url: string;
let browser: BrowserContext | undefined;
let profile: string;
const reader = randomUUID();

describe.skipIf(!hasChromium)('GraphiQL in headless Chromium', () => {
  beforeAll(async () => {
    gw = await startTestGateway();
    const categoryId = await gw.seed.category('Browser Shelf');
    await gw.seed.book({ title: 'A Book Seen In A Browser', categoryId });
    app = createApp(gw.deps, { graphiqlToken: await gw.token(reader) });
    server = createGatewayServer(app, new Lifecycle());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
    profile = await mkdtemp(join(tmpdir(), 'falsafa-chromium-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await app?.dispose();
    await gw?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it('opens GraphiQL, runs the pre-filled query and shows the result', async () => {
    const page = await browser!.newPage();
    const failed: string[] = [];
    page.on('requestfailed', (r) => failed.push(r.url()));
    await page.goto(url, { waitUntil: 'load' });
    await expect(page.title()).resolves.toBe('Falsafa gateway');
    const run = page.locator('.graphiql-execute-button');
    await run.waitFor({ state: 'visible', timeout: 20_000 });
    // The first tab is the Catalog query, with the development token in its headers.
    await page.locator('.graphiql-query-editor').getByText('Catalog').first().waitFor();
    const answered = page.waitForResponse(
      (r) => r.url() === url && r.request().method() === 'POST',
    );
    await run.click();
    const response = await answered;
    expect(response.status()).toBe(200);
    const body = (await response.json()) as {
      data?: { viewer: { id: string }; categories: { name: string }[]; books: any };
      errors?: unknown;
    };
    expect(body.errors).toBeUndefined();
    expect(body.data?.viewer.id).toBe(reader);
    expect(body.data?.categories.map((c) => c.name)).toContain('Browser Shelf');
    expect(body.data?.books.edges[0].node.title).toBe('A Book Seen In A Browser');
    // And GraphiQL shows it (its result pane renders the lines in view: the viewer is on top).
    const pane = page.locator('.graphiql-response');
    await pane.getByText(reader).waitFor({ timeout: 20_000 });
    await expect(pane.textContent()).resolves.toContain('"viewer"');
    // Everything the page needed came from the gateway itself (it renders offline).
    expect(failed.filter((u) => !u.startsWith(new URL(url).origin))).toEqual([]);
  }, 60_000);
});
