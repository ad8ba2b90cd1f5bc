import { getEncoding } from 'js-tiktoken';
import { describe, expect, it } from 'vitest';
import type { FusedPassage } from '../src/chat/fusion.js';
import { buildPrompt, countTokens } from '../src/chat/prompt.js';
import type { SessionContext } from '../src/chat/session-context.js';
import type { BookRow, CharacterRow } from '../src/models.js';

const cl100k = getEncoding('cl100k_base');
const exact = (text: string) => cl100k.encode(text).length;

const PROSE =
  'The lighthouse at Salt Hollow stood on a finger of black rock that pointed out into the grey ' +
  'northern sea. It was not a tall tower, as towers go, but it was an old one, and the wind had ' +
  'worn its white paint down to the stone in long streaks. "Can you climb stairs?" Tomas asked. "I can climb anything," said Mira.\n\nThat had been six years ago.';

describe('countTokens', () => {
  it('counts ordinary text exactly as cl100k_base does', () => {
    for (const text of [
      '',
      'Hello, world!',
      PROSE,
      PROSE.repeat(20),
      'Ceci n’est pas une pipe — dit-il, à voix basse.',
      'internationalization https://example.com/a/long/path?with=query',
      'Pneumonoultramicroscopicsilicovolcanoconiosis, said nobody, ever.',
      '灯塔守护者的学徒米拉，每天晚上修剪灯芯。',
    ]) {
      expect(countTokens(text), text.slice(0, 30)).toBe(exact(text));
    }
  });

  it('counts long runs without spaces in slices, close to the exact count', () => {
    // Exact BPE on one 4,000-character piece takes seconds (quadratic merging), so long runs are
    // counted in slices; `npm run bench` (section 9) measures that the time grows linearly.
    const cases: [string, string, number][] = [
      ['Chinese', '灯'.repeat(4000), 8000],
      ['emoji', '🕯'.repeat(4000), 12000],
      ['spaces', ' '.repeat(4000), 250],
      ['letters', 'w'.repeat(4000), 2000],
      ['punctuation', '!'.repeat(4000), 500],
    ];
    for (const [name, text, expected] of cases) {
      const value = countTokens(text);
      // Within 10% of the exact count (which the slices reproduce exactly for these).
      expect(Math.abs(value - expected), name).toBeLessThanOrEqual(expected * 0.1);
    }
    // Real Chinese prose: 16-character slices count what the whole would (measured: 5,980).
    const zh = '灯塔守护者的学徒米拉每天晚上修剪灯芯擦亮透镜并给油箱加满油'.repeat(130);
    expect(countTokens(zh)).toBe(5980);
  });
});

const character: CharacterRow = {
  id: '00000000-0000-4000-8000-000000000001',
  book_id: '00000000-0000-4000-8000-000000000002',
  name: 'Mira',
  safe_name: 'mira',
  description: 'The keeper’s apprentice',
  personality: null,
  system_prompt: 'You are Mira Vell, the apprentice keeper of the lighthouse at Salt Hollow.',
  avatar_url: null,
  created_at: '2026-01-01T00:00:00Z',
};

const book: BookRow = {
  id: character.book_id,
  user_id: null,
  title: 'The Lamp at Salt Hollow',
  author: 'The Falsafa project',
  description: null,
  category_id: null,
  cover_url: null,
  storage_path: null,
  processing_status: 'completed',
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
  category: null,
};

function passage(chunkIndex: number, words: number): FusedPassage {
  return {
    chunk: {
      book_id: book.id,
      chunk_index: chunkIndex,
      text: `Passage ${chunkIndex}. ${'lamp wick oil storm '.repeat(words / 4)}`.trim(),
      chapter: `Chapter ${chunkIndex}`,
      start: 0,
      end: 10,
    },
    score: 1 / (60 + chunkIndex),
    vectorRank: chunkIndex,
    keywordRank: null,
  };
}

function context(messages: number, summary = 'They talked about the sea.'): SessionContext {
  return {
    summary,
    messages: Array.from({ length: messages }, (_, i) => ({
      id: `m${i}`,
      role: i % 2 === 0 ? ('user' as const) : ('assistant' as const),
      content: `Message ${i}: ${'the sea and the lamp '.repeat(20)}`,
      created_at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
    })),
  };
}

const sizeOf = (messages: { content: string }[]) =>
  messages.reduce((n, m) => n + exact(m.content) + 4, 0);

describe('buildPrompt', () => {
  it('with room for all: system prompt, book, summary, passages with chunk indexes, recent turns, message', () => {
    const built = buildPrompt({
      character,
      book,
      context: context(4),
      passages: [passage(3, 20), passage(7, 20)],
      message: 'What does the lamp need?',
      budget: 100_000,
    });
    const [system, ...rest] = built.messages;
    expect(system!.role).toBe('system');
    expect(system!.content).toContain(character.system_prompt);
    expect(system!.content).toContain('The Lamp at Salt Hollow');
    expect(system!.content).toContain('They talked about the sea.');
    expect(system!.content).toContain('[chunk 3, Chapter 3]');
    expect(system!.content).toContain('[chunk 7, Chapter 7]');
    expect(rest.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant', 'user']);
    expect(rest.at(-1)).toEqual({ role: 'user', content: 'What does the lamp need?' });
    expect(built.passages.map((p) => p.chunk.chunk_index)).toEqual([3, 7]);
    expect(built.tokens).toBe(sizeOf(built.messages));
  });

  it('trims to the budget: oldest turns first, then the lowest-ranked passages, then the summary', () => {
    const input = {
      character,
      book,
      context: context(10),
      passages: [passage(1, 200), passage(2, 200), passage(3, 200)],
      message: 'What does the lamp need?',
    };
    const full = buildPrompt({ ...input, budget: 100_000 });
    const fullSize = full.tokens;

    const lessTurns = buildPrompt({ ...input, budget: fullSize - 150 });
    expect(lessTurns.tokens).toBeLessThanOrEqual(fullSize - 150);
    expect(lessTurns.passages).toHaveLength(3);
    const kept = lessTurns.messages.slice(1, -1).map((m) => m.content);
    expect(kept.length).toBeLessThan(10);
    // The newest turns stay.
    expect(kept.at(-1)).toMatch(/^Message 9:/);

    const noTurnsSize = buildPrompt({ ...input, context: context(0), budget: 100_000 }).tokens;
    const lessPassages = buildPrompt({ ...input, budget: noTurnsSize - 100 });
    expect(lessPassages.messages).toHaveLength(2);
    expect(lessPassages.passages.map((p) => p.chunk.chunk_index)).toEqual([1, 2]);
    expect(lessPassages.messages[0]!.content).toContain('They talked about the sea.');
    expect(lessPassages.tokens).toBeLessThanOrEqual(noTurnsSize - 100);

    const bare = buildPrompt({ ...input, budget: 60 });
    expect(bare.passages).toEqual([]);
    expect(bare.messages[0]!.content).not.toContain('They talked about the sea.');
    expect(bare.messages[0]!.content).toContain(character.system_prompt);
    expect(bare.messages.at(-1)!.content).toBe('What does the lamp need?');
    for (const b of [lessTurns, lessPassages, bare]) expect(b.tokens).toBe(sizeOf(b.messages));
  });

  it('keeps a 4,000-character message that has no spaces, alone over the budget', () => {
    const value = buildPrompt({
      character,
      book,
      context: context(10),
      passages: [passage(1, 200), passage(2, 200), passage(3, 200)],
      message: '灯'.repeat(4000),
      budget: 6000,
    });
    // The message (8,000 tokens) always stays, alone with the system prompt, over the budget.
    expect(value.messages).toHaveLength(2);
    expect(value.messages.at(-1)!.content).toBe('灯'.repeat(4000));
    expect(value.passages).toEqual([]);
    expect(value.tokens).toBeGreaterThan(8000);
  });
});
