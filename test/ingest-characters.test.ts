import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildSystemPrompt,
  findCharactersLocal,
  findCharactersWithLlm,
  SAFE_NAME_PATTERN,
  safeName,
} from '../src/ingest/characters.js';
import { chunkText } from '../src/ingest/chunker.js';
import { DEMO_BOOK, loadDemoBook } from '../src/ingest/demo-book.js';
import { LlmUnavailableError, LocalLlm, OpenAILlm } from '../src/providers/index.js';
import { type OpenAiTestServer, startOpenAiServer } from './support/openai-server.js';

let demo = '';
beforeAll(async () => {
  demo = new TextDecoder().decode(await loadDemoBook());
});

describe('the demo book', () => {
  it('is a long Markdown story with chapters', () => {
    expect(demo.split(/\s+/).length).toBeGreaterThan(3000);
    expect(demo.startsWith(`# ${DEMO_BOOK.title}`)).toBe(true);
    const chapters = new Set(chunkText(demo).map((c) => c.chapter));
    expect(chapters.size).toBeGreaterThanOrEqual(7);
    expect(chapters).toContain('Chapter 3: What the Logbook Said');
  });
});

describe('findCharactersLocal', () => {
  it('finds the demo book’s speakers, most frequent first', () => {
    const found = findCharactersLocal(demo);
    expect(found.map((c) => c.name)).toEqual(['Mira', 'Tomas', 'Idris']);
    for (const character of found) {
      expect(character.speeches).toBeGreaterThan(10);
      expect(character.mentions).toBeGreaterThanOrEqual(character.speeches);
      expect(character.description).toContain(character.name);
      expect(character.personality.length).toBeGreaterThan(10);
    }
  });

  it('reads every attribution style, merges variants and skips pronouns', () => {
    const text = [
      '"Come in," said Captain Orrin Vale.',
      '"Where?" asked ANNA.',
      'Anna laughed. "Here," she said.',
      'Then Orrin whispered, "Quiet."',
      '"No," he replied.',
      '"Why?" replied Anna.',
      'BORIS: Who goes there?',
      'BORIS: Only me.',
      'Boris shouted at the dog.',
      '"Fine," Mr. Darcy said.',
      '"Yes," said Mr. Darcy.',
    ].join('\n');
    const found = findCharactersLocal(text);
    expect(found.map((c) => [c.name, c.speeches])).toEqual([
      ['Anna', 3],
      ['Boris', 3],
      ['Captain Orrin Vale', 2],
      ['Mr. Darcy', 2],
    ]);
    expect(found[0]!.personality).toMatch(/curious/);
  });

  it('returns at most max characters and nothing for text without dialogue', () => {
    expect(findCharactersLocal(demo, { max: 2 })).toHaveLength(2);
    expect(findCharactersLocal('The sea was grey. The wind blew all night.')).toEqual([]);
  });
});

describe('findCharactersWithLlm', () => {
  let server: OpenAiTestServer;
  beforeAll(async () => {
    server = await startOpenAiServer();
  });
  afterAll(() => server.close());
  const llm = () =>
    new OpenAILlm({ baseUrl: server.url, model: 'm', retryBaseDelayMs: 1, maxRetries: 0 });

  it('uses the model’s validated list', async () => {
    server.enqueueChat({
      json: {
        characters: [
          { name: 'Mira Vell', description: 'Apprentice keeper.', personality: 'Bold.' },
          { name: 'mira vell', description: 'duplicate', personality: '' },
          { name: 'Tomas Brenn', description: 'The old keeper.', personality: 'Quiet.' },
        ],
      },
    });
    const found = await findCharactersWithLlm(llm(), demo.slice(0, 4000), { fullText: demo });
    expect(found.map((c) => c.name)).toEqual(['Mira Vell', 'Tomas Brenn']);
    expect(found[0]!.mentions).toBeGreaterThan(0);
    const body = server.requestsTo('chat').at(-1)?.body as { response_format?: unknown };
    expect(body.response_format).toEqual({ type: 'json_object' });
  });

  it('falls back to the local finder on an invalid answer', async () => {
    server.enqueueChat({ reply: 'The characters are Mira and Tomas.' });
    const found = await findCharactersWithLlm(llm(), demo);
    expect(found.map((c) => c.name)).toEqual(['Mira', 'Tomas', 'Idris']);
    server.enqueueChat({ json: { characters: [{ description: 'no name' }] } });
    expect((await findCharactersWithLlm(llm(), demo)).map((c) => c.name)).toContain('Idris');
  });

  it('falls back with the offline model and lets an unreachable model fail', async () => {
    expect((await findCharactersWithLlm(new LocalLlm(), demo)).length).toBe(3);
    server.enqueueChat({ status: 503 });
    await expect(findCharactersWithLlm(llm(), demo)).rejects.toBeInstanceOf(LlmUnavailableError);
  });
});

describe('safeName', () => {
  it('makes lowercase ASCII slugs', () => {
    const taken = new Set<string>();
    expect(safeName('Mira Vell', taken)).toBe('mira-vell');
    expect(safeName('Zoë O’Brien-Ståhl', taken)).toBe('zoe-obrien-stahl');
    expect(safeName('Łukasz Straße', taken)).toBe('lukasz-strasse');
    expect(safeName('نور', taken)).toBe('nwr');
    expect(safeName('Анна', taken)).toBe('anna');
    expect(safeName('!!!', taken)).toBe('character');
    expect(safeName('__x__', taken)).toBe('x');
  });

  it('keeps names unique within a book', () => {
    const taken = new Set<string>();
    expect(['Mira', 'MIRA', 'mira!', 'Míra'].map((n) => safeName(n, taken))).toEqual([
      'mira',
      'mira-2',
      'mira-3',
      'mira-4',
    ]);
    expect(taken.size).toBe(4);
  });

  it('always matches the pattern, even for very long names', () => {
    const taken = new Set<string>();
    const long = 'Bartholomew '.repeat(12);
    const names = [long, long, long, 'a'.repeat(200), 'a'.repeat(200)].map((n) =>
      safeName(n, taken),
    );
    for (const name of names) {
      expect(name).toMatch(SAFE_NAME_PATTERN);
      expect(name.length).toBeLessThanOrEqual(60);
    }
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('buildSystemPrompt', () => {
  it('grounds the character in the book with the rules', () => {
    const prompt = buildSystemPrompt({
      bookTitle: DEMO_BOOK.title,
      author: 'A. Writer',
      character: { name: 'Mira', description: 'Apprentice keeper.', personality: 'Bold.' },
      otherCharacters: [{ name: 'Mira' }, { name: 'Tomas', description: 'The old keeper.' }],
    });
    expect(prompt).toContain(
      'You are Mira, a character of the book “The Lamp at Salt Hollow” by A. Writer.',
    );
    expect(prompt).toContain('- Tomas: The old keeper.');
    expect(prompt).not.toContain('- Mira');
    expect(prompt).toMatch(/Never invent/);
    expect(prompt).toMatch(/book does not tell/);
    expect(prompt).toMatch(/language of the reader/);
    expect(prompt).toMatch(/passages/);
  });
});
