import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_SESSION_ID } from '../src/seed-demo.js';
import { waitUntil } from './support/books.js';
import { type GatewayProcess, spawnGateway } from './support/gateway-process.js';
import {
  type ChatRequestBody,
  type ChatStep,
  DEMO_CHARACTER_LIST,
  type OpenAiTestServer,
  startOpenAiServer,
} from './support/openai-server.js';

/**
 * The README's quickstart settings for a real model (the Ollama example), taken from the README
 * itself, run by `npm start`'s entry point with the OpenAI-compatible test server standing in for
 * Ollama at the same path: the demo book is ingested with the model's embeddings and character
 * list, and a turn in the demo session is answered by the model, not by the offline fallback.
 */

const OLLAMA = 'http://localhost:11434/v1';
const REPLY = 'The storm took the old lamp, and I lit the new one myself.';
let server: OpenAiTestServer;
let dataDir: string;
let child: GatewayProcess | undefined;
let settings: Record<string, string>;

/** The `NAME=value` settings of the README's shell block that runs Ollama. */
async function readmeModelSettings(): Promise<Record<string, string>> {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const block = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)]
    .map((m) => m[1]!)
    .find((b) => b.includes('ollama pull'));
  if (!block) throw new Error('the README has no Ollama block');
  const command = block.replace(/\\\n/g, ' ');
  const line = command.split('\n').find((l) => l.includes('npm start'))!;
  return Object.fromEntries(
    line
      .split(/\s+/)
      .map((word) => /^([A-Z][A-Z0-9_]*)=(\S+)$/.exec(word))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1]!, m[2]!]),
  );
}

function responder(body: ChatRequestBody): ChatStep {
  const system = body.messages?.[0]?.content ?? '';
  if (body.stream) return { reply: REPLY };
  if (/list their characters/.test(system)) return DEMO_CHARACTER_LIST;
  if (/search queries/.test(system)) {
    return { json: { narrative: 'the storm and the lamp', keyword: 'storm lamp' } };
  }
  return { reply: 'A short summary.' };
}

beforeAll(async () => {
  settings = await readmeModelSettings();
  server = await startOpenAiServer({ dimension: Number(settings.EMBEDDING_DIMENSION) });
  server.chatResponder = responder;
  dataDir = await mkdtemp(join(tmpdir(), 'falsafa-quickstart-'));
});
afterAll(async () => {
  if (child && child.proc.exitCode === null) {
    child.proc.kill('SIGTERM');
    await child.exited;
  }
  await server?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe("the README's real-model settings (Ollama)", () => {
  it('name the variables the gateway reads', () => {
    expect(settings).toMatchObject({
      LLM_PROVIDER: 'openai',
      LLM_BASE_URL: OLLAMA,
      EMBEDDING_PROVIDER: 'openai',
      EMBEDDING_BASE_URL: OLLAMA,
    });
    expect(settings.LLM_MODEL).toBeTruthy();
    expect(settings.EMBEDDING_MODEL).toBeTruthy();
  });

  it('start the gateway with the model answering, not the offline fallback', async () => {
    const env: Record<string, string> = {
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      RATE_LIMIT_ENABLED: 'false',
    };
    for (const [name, value] of Object.entries(settings)) {
      env[name] = value.replace(OLLAMA, server.url);
    }
    env.FALSAFA_DATA_DIR = dataDir;
    child = spawnGateway(env);
    const url = await child.listening();
    const out = child.stdout();
    expect(out).not.toContain('Replies come from the offline fallback');
    const token = /Development token[^\n]*\n(\S+)/.exec(out)?.[1];
    expect(token).toBeTruthy();

    const gql = async (query: string, variables: Record<string, unknown> = {}) => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      });
      return (await res.json()) as { data?: any; errors?: { extensions?: { code?: string } }[] };
    };
    // The demo session is opened once the demo book is ingested (through the model).
    await waitUntil(
      async () =>
        !(await gql('query ($id: ID!) { chatSession(id: $id) { id } }', { id: DEMO_SESSION_ID }))
          .errors,
      90_000,
      'the demo book to be ingested and its session opened',
    );
    const turn = await gql(
      'mutation ($i: SendMessageInput!) { sendMessage(input: $i) { reply { content } } }',
      { i: { sessionId: DEMO_SESSION_ID, content: 'What happened in the storm?' } },
    );
    expect(turn.errors).toBeUndefined();
    expect(turn.data.sendMessage.reply.content).toBe(REPLY);

    const chat = server.requestsTo('chat');
    const embeddings = server.requestsTo('embeddings');
    expect(chat.some((r) => (r.body as ChatRequestBody).stream === true)).toBe(true);
    expect(embeddings.length).toBeGreaterThan(0);
    expect(new Set(chat.map((r) => (r.body as ChatRequestBody).model))).toEqual(
      new Set([settings.LLM_MODEL]),
    );
    expect(new Set(embeddings.map((r) => (r.body as { model?: string }).model))).toEqual(
      new Set([settings.EMBEDDING_MODEL]),
    );
  }, 150_000);
});
