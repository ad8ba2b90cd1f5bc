import { type ChildProcess, spawn } from 'node:child_process';
import { expect } from 'vitest';
import { loadDemoBook } from '../../src/ingest/demo-book.js';
import { uploadBook, waitForStatus, waitUntil } from './books.js';
import type { TestGateway } from './gateway.js';
import type { OpenAiTestServer } from './openai-server.js';

/** A worker process (`npm run worker`) with its output kept in `output` once it exits. */
export type WorkerProcess = ChildProcess & { output?: string };

/** Worker processes started by a test file; `killAll` ends those still running. */
export class WorkerProcesses {
  readonly children: WorkerProcess[] = [];

  start(env: Record<string, string>): WorkerProcess {
    const child: WorkerProcess = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/worker-main.ts'],
      {
        cwd: new URL('../..', import.meta.url).pathname,
        env: { PATH: process.env.PATH ?? '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout?.on('data', (d) => {
      out += d;
    });
    child.stderr?.on('data', (d) => {
      out += d;
    });
    child.on('exit', () => {
      child.output = out;
    });
    this.children.push(child);
    return child;
  }

  running(): WorkerProcess | undefined {
    return this.children.find((c) => c.exitCode === null && c.signalCode === null);
  }

  async killAll(): Promise<void> {
    const alive = this.children.filter((c) => c.exitCode === null && c.signalCode === null);
    for (const c of alive) c.kill('SIGKILL');
    await Promise.all(alive.map((c) => new Promise((r) => c.once('exit', r))));
  }
}

const PROCESS = 'mutation ($id: ID!) { processBook(bookId: $id) { id processingStatus } }';

/**
 * Uploads the demo book, lets a new worker process take its job (slow embeddings from `ai`, so it
 * is surely mid-way) and SIGKILLs that worker; the book is left `processing`.
 */
export async function killWorkerMidJob(
  gw: TestGateway,
  ai: OpenAiTestServer,
  workers: WorkerProcesses,
  o: { fileName: string; owner: string },
) {
  const demo = await loadDemoBook();
  const { bookId, path } = await uploadBook(gw, {
    bytes: demo,
    fileName: o.fileName,
    contentType: 'text/markdown',
    owner: o.owner,
  });
  ai.reset();
  ai.enqueueEmbeddings(...Array.from({ length: 3 }, () => ({ delayMs: 1500 })));
  const worker = workers.start({ ...gw.env, WORKER_CONCURRENCY: '1', LOG_LEVEL: 'info' });
  const res = await gw.gql(PROCESS, { id: bookId }, { token: await gw.token(o.owner) });
  expect(res.body.errors).toBeUndefined();
  await waitUntil(
    async () => ai.requestsTo('embeddings').length >= 1,
    20_000,
    'the first embedding call',
  );
  expect(await waitForStatus(gw, bookId, ['processing'])).toBe('processing');
  worker.kill('SIGKILL');
  await new Promise((r) => worker.once('exit', r));
  return { bookId, path, demo };
}
