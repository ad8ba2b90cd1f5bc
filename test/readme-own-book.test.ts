import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from './support/books.js';
import { type GatewayProcess, spawnGateway } from './support/gateway-process.js';

/**
 * The README's "Your own book" commands, run as written against the embedded default (`npm
 * start`'s code, on a port of its own): each `NAME=<...>` line takes its value from what
 * `npm start` printed or from the id in the previous command's answer, every other line runs in
 * bash with curl. Both paths must end in a chat reply from a character of the new book.
 */

const run = promisify(execFile);
const ROOT = new URL('..', import.meta.url).pathname;
let child: GatewayProcess | undefined;
let dataDir: string;
let base: string;
let printed: Record<string, string>;

async function readmeBlocks(): Promise<string[]> {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('## Your own book');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** Shell commands of a block, continuation lines joined. */
function commands(block: string): string[] {
  return block
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

const ID = /"id":"([0-9a-f-]{36})"/;

/** Runs a block the way a reader would, filling each placeholder; every command's output. */
async function follow(
  block: string,
  vars: Record<string, string>,
  before: string[] = [],
): Promise<string[]> {
  const outputs: string[] = [];
  for (const command of commands(block)) {
    for (const assignment of command.split(';')) {
      const placeholder = /^(\w+)=<[^>]*>/.exec(assignment.trim());
      if (!placeholder) continue;
      const name = placeholder[1]!;
      const last = outputs.at(-1) ?? before.at(-1) ?? '';
      vars[name] =
        printed[name] ??
        (name === 'CHARACTER'
          ? /"characters":\[\{"id":"([0-9a-f-]{36})"/.exec(last)?.[1]
          : ID.exec(last)?.[1]) ??
        '';
      expect(vars[name], `${name} from ${last.slice(0, 300)}`).not.toBe('');
    }
    if (/^\w+=/.test(command)) {
      const plain = /^(\w+)=([^<\s;]+)/.exec(command);
      if (plain) vars[plain[1]!] = plain[2]!;
      continue;
    }
    const script = command
      .replace('http://localhost:4000', base)
      .replace(/^curl -N /, 'curl -N --max-time 30 ');
    const { stdout } = await run('bash', ['-c', `curl() { command curl -sS "$@"; }; ${script}`], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...vars },
    }).catch((err: { stdout?: string; code?: number }) => {
      // The SSE stream ends when the subscription completes; curl's own timeout is a failure.
      if (err.code === 28) throw new Error(`timed out: ${script}`);
      return { stdout: err.stdout ?? '' };
    });
    outputs.push(stdout);
  }
  return outputs;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'falsafa-readme-book-'));
  child = spawnGateway({
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'info',
    RATE_LIMIT_ENABLED: 'false',
    FALSAFA_DATA_DIR: dataDir,
  });
  const url = await child.listening(90_000);
  base = url.replace(/\/graphql$/, '');
  await waitUntil(async () => /anon key: \S+/.test(child!.stdout()), 10_000, 'the start-up text');
  const out = child.stdout();
  printed = {
    TOKEN: /Development token[^\n]*\n(\S+)/.exec(out)?.[1] ?? '',
    SUPABASE: /frontend's own path\): (\S+)/.exec(out)?.[1] ?? '',
    ANON: /anon key: (\S+)/.exec(out)?.[1] ?? '',
  };
}, 120_000);
afterAll(async () => {
  child?.proc.kill('SIGTERM');
  await child?.exited;
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe("the README's own-book commands against npm start", () => {
  it('createBook with curl -F: .txt and .epub, followed to COMPLETED, then a chat turn', async () => {
    const [multipart, follow_] = await readmeBlocks();
    for (const file of ['test/fixtures/sample.txt', 'test/fixtures/sample.epub']) {
      const vars: Record<string, string> = {};
      const created = await follow(multipart!.replace('test/fixtures/sample.txt', file), vars);
      expect(created.at(-1)).toMatch(
        /"createBook":\{"id":"[0-9a-f-]{36}","processingStatus":"PENDING"\}/,
      );
      const [stream, book, session, turn] = await follow(
        follow_!,
        { ...printed, ...vars },
        created,
      );
      expect(stream).toMatch(/"stage":"COMPLETED"/);
      expect(book).toMatch(/"processingStatus":"COMPLETED","characters":\[\{"id"/);
      expect(session).toMatch(/"createChatSession":\{"id"/);
      expect(JSON.parse(turn!).data.sendMessage.reply.content.length).toBeGreaterThan(0);
    }
  }, 120_000);

  it("the frontend's own path: Storage upload, books insert, processBook, then a chat turn", async () => {
    const [, follow_, frontend] = await readmeBlocks();
    const vars: Record<string, string> = { ...printed };
    const [upload, insert, processed] = await follow(frontend!, vars);
    expect(upload).toMatch(/"Key":"books\/00000000-0000-4000-8000-000000000001\/ferryman.txt"/);
    expect(insert).toMatch(ID);
    expect(processed).toMatch(/"processBook":\{"id"/);
    const [stream, , , turn] = await follow(follow_!.replace(/^BOOK=.*$/m, ''), vars);
    expect(stream).toMatch(/"stage":"COMPLETED"/);
    expect(JSON.parse(turn!).data.sendMessage.reply.content.length).toBeGreaterThan(0);
  }, 120_000);
});
