/**
 * Finding a book's characters. `findCharactersLocal` is deterministic: it counts speakers from
 * dialogue attribution (`"…," said Mira`, `Mira asked`, `replied Old Tomas`) and script labels
 * (`MIRA:` at a line start), merges case variants and a lone first or last name into the full
 * name, drops pronouns and common words, and describes each from the text around them.
 * `findCharactersWithLlm` asks the model (JSON, validated) and falls back to the local finder when
 * the model's answer is unusable (LlmOutputError); a model that cannot be reached is an error.
 */
import { z } from 'zod';
import { foldText } from '../providers/text.js';
import { type Llm, LlmOutputError } from '../providers/types.js';

interface FoundCharacter {
  name: string;
  description: string;
  personality: string;
  /** How often the name occurs in the text. */
  mentions: number;
  /** How many lines of dialogue were attributed to them (0 when the model found them). */
  speeches: number;
}

const characterListSchema = z.object({
  characters: z
    .array(
      z.object({
        name: z.string().trim().min(1).max(80),
        description: z.string().trim().max(1000).default(''),
        personality: z.string().trim().max(1000).default(''),
      }),
    )
    .max(50),
});
type CharacterList = z.infer<typeof characterListSchema>;

const SPEECH_VERBS =
  'said|says|asked|asks|replied|replies|answered|answers|whispered|whispers|shouted|shouts|' +
  'cried|called|murmured|muttered|added|continued|exclaimed|laughed|sighed|began|repeated|' +
  'insisted|agreed|demanded|snapped|told|warned|explained|admitted|declared|announced|' +
  'protested|pleaded|begged|suggested|observed|remarked|retorted|growled|yelled|screamed|' +
  'stammered|wondered|breathed|hissed|grumbled|interrupted|went on';

/** A capitalised name of one to three words ("Mira", "Old Tomas", "Captain Orrin Vale"). */
const NAME = "(?:(?:Mr|Mrs|Ms|Dr|St)\\.\\s+)?\\p{Lu}[\\p{L}'’-]*(?:\\s+\\p{Lu}[\\p{L}'’-]*){0,2}";
const AFTER_QUOTE = new RegExp(`[,!?…—–-]\\s*["”’]?\\s*(${SPEECH_VERBS})\\s+(${NAME})`, 'gu');
const BEFORE_VERB = new RegExp(`(?<![\\p{L}'’])(${NAME})\\s+(${SPEECH_VERBS})\\b`, 'gu');
const SPEAKER_LABEL =
  /^[ \t]*(\p{Lu}[\p{Lu}'’ .-]{1,30}|\p{Lu}\p{Ll}+(?: \p{Lu}\p{Ll}+)?):[ \t]+\S/gmu;

/** Words that are capitalised at a sentence start or in labels but are not names. */
const NOT_NAMES = new Set(
  (
    'i he she it we you they him her them his hers its our your their me us this that these those ' +
    'there here then now when while after before as and but or so if yet still though although ' +
    'someone somebody everyone everybody nobody anyone one another other others no yes oh ah well ' +
    'the a an my mine what who why how where which whose father mother sir madam lady lord ' +
    'chapter part book note warning prologue epilogue act scene narrator voice all both each ' +
    'god heaven nothing something everything later again suddenly finally quietly softly ' +
    'monday tuesday wednesday thursday friday saturday sunday january february march april may ' +
    'june july august september october november december ' +
    'captain doctor mister mistress miss mr mrs ms dr old young little'
  ).split(' '),
);

/** Titles kept in front of a name ("Captain Orrin") but not a name by themselves. */
const TITLES = new Set(
  'captain doctor mister mistress miss mr mrs ms dr old young little lady lord sir aunt uncle master'.split(
    ' ',
  ),
);

const VERB_TRAITS: Record<string, string> = {
  asked: 'curious',
  wondered: 'curious',
  whispered: 'quiet',
  murmured: 'quiet',
  breathed: 'quiet',
  shouted: 'forceful',
  yelled: 'forceful',
  snapped: 'sharp-tongued',
  hissed: 'sharp-tongued',
  retorted: 'sharp-tongued',
  demanded: 'commanding',
  insisted: 'stubborn',
  laughed: 'good-humoured',
  sighed: 'weary',
  grumbled: 'grumbling',
  muttered: 'grumbling',
  growled: 'gruff',
  warned: 'cautious',
  explained: 'thoughtful',
  observed: 'observant',
  remarked: 'observant',
  pleaded: 'earnest',
  begged: 'earnest',
  stammered: 'nervous',
  cried: 'emotional',
  exclaimed: 'excitable',
  agreed: 'agreeable',
  suggested: 'thoughtful',
};

interface Tally {
  variants: Map<string, number>;
  speeches: number;
  verbs: Map<string, number>;
}

export function findCharactersLocal(
  text: string,
  options: { max?: number } = {},
): FoundCharacter[] {
  const max = options.max ?? 8;
  const tallies = new Map<string, Tally>();
  const count = (raw: string, verb: string | undefined) => {
    const name = cleanName(raw);
    if (name === null) return;
    const key = foldText(name);
    let tally = tallies.get(key);
    if (!tally) {
      tally = { variants: new Map(), speeches: 0, verbs: new Map() };
      tallies.set(key, tally);
    }
    tally.speeches++;
    tally.variants.set(name, (tally.variants.get(name) ?? 0) + 1);
    if (verb) tally.verbs.set(verb, (tally.verbs.get(verb) ?? 0) + 1);
  };
  for (const m of text.matchAll(AFTER_QUOTE)) count(m[2]!, baseVerb(m[1]!));
  for (const m of text.matchAll(BEFORE_VERB)) count(m[1]!, baseVerb(m[2]!));
  for (const m of text.matchAll(SPEAKER_LABEL)) count(titleCase(m[1]!.trim()), undefined);

  mergePartialNames(tallies);
  let candidates = [...tallies.values()].map((tally) => ({ tally, name: displayName(tally) }));
  // One stray attribution ("said Tuesday") is noise when real speakers are plentiful.
  if (candidates.filter((c) => c.tally.speeches >= 2).length >= 2) {
    candidates = candidates.filter((c) => c.tally.speeches >= 2);
  }
  return candidates
    .map(({ tally, name }) => ({
      name,
      description: describe(text, name),
      personality: personality(tally),
      mentions: countMentions(text, tally),
      speeches: tally.speeches,
    }))
    .sort(
      (a, b) => b.speeches - a.speeches || b.mentions - a.mentions || a.name.localeCompare(b.name),
    )
    .slice(0, max);
}

/**
 * Asks the model for the main characters of the book from a sample of its text; when the answer
 * is not valid JSON of the right shape, or names nobody, uses `findCharactersLocal` on `fullText`
 * (default: the sample). LlmUnavailableError is not caught.
 */
export async function findCharactersWithLlm(
  llm: Llm,
  sample: string,
  options: { max?: number; bookTitle?: string; fullText?: string; signal?: AbortSignal } = {},
): Promise<FoundCharacter[]> {
  const max = options.max ?? 8;
  const fullText = options.fullText ?? sample;
  let list: CharacterList;
  try {
    list = await llm.completeJson(
      {
        messages: [
          {
            role: 'system',
            content:
              'You read novels and list their characters. Answer with one JSON object of the form ' +
              '{"characters":[{"name":"...","description":"...","personality":"..."}]}. List at most ' +
              `${max} named characters who speak or act in the text, most important first. Use only ` +
              'what the text says: description = who they are and what they do; personality = how ' +
              'they speak and behave. Write both in the language of the text.',
          },
          {
            role: 'user',
            content: `${options.bookTitle ? `Book: ${options.bookTitle}\n\n` : ''}Text:\n${sample}`,
          },
        ],
        temperature: 0,
        ...(options.signal ? { signal: options.signal } : {}),
        hints: { task: 'characters' },
      },
      characterListSchema,
    );
  } catch (error) {
    if (error instanceof LlmOutputError) return findCharactersLocal(fullText, { max });
    throw error;
  }
  const seen = new Set<string>();
  const found: FoundCharacter[] = [];
  for (const character of list.characters) {
    const key = foldText(character.name);
    if (seen.has(key) || NOT_NAMES.has(key)) continue;
    seen.add(key);
    found.push({
      name: character.name,
      description: character.description,
      personality: character.personality,
      mentions: countOccurrences(fullText, character.name),
      speeches: 0,
    });
  }
  return found.length > 0 ? found.slice(0, max) : findCharactersLocal(fullText, { max });
}

/** Strips leading non-name words ("Then Mira" → "Mira"); null when nothing name-like is left. */
function cleanName(raw: string): string | null {
  const parts = raw.split(/\s+/).filter(Boolean);
  while (
    parts.length > 0 &&
    NOT_NAMES.has(foldText(parts[0]!)) &&
    !TITLES.has(foldText(parts[0]!))
  ) {
    parts.shift();
  }
  while (parts.length > 0 && NOT_NAMES.has(foldText(parts.at(-1)!))) parts.pop();
  if (parts.length === 0) return null;
  if (parts.every((p) => NOT_NAMES.has(foldText(p)))) return null;
  const name = parts.join(' ').replace(/['’]s$/u, '');
  return name.length >= 2 ? name : null;
}

function titleCase(label: string): string {
  if (label !== label.toUpperCase()) return label;
  return label
    .toLowerCase()
    .replace(/(^|[\s'’.-])(\p{Ll})/gu, (_, sep: string, c: string) => sep + c.toUpperCase());
}

function baseVerb(verb: string): string {
  return verb
    .replace(/^says$/, 'said')
    .replace(/^asks$/, 'asked')
    .replace(/^whispers$/, 'whispered');
}

/** Folds a one-word name into the one multi-word name that contains it ("Orrin" → "Captain Orrin"). */
function mergePartialNames(tallies: Map<string, Tally>): void {
  const keys = [...tallies.keys()];
  for (const key of keys) {
    if (key.includes(' ')) continue;
    const owners = keys.filter((other) => other !== key && other.split(' ').includes(key));
    if (owners.length !== 1) continue;
    const owner = tallies.get(owners[0]!)!;
    const tally = tallies.get(key)!;
    owner.speeches += tally.speeches;
    for (const [v, n] of tally.variants) owner.variants.set(v, (owner.variants.get(v) ?? 0) + n);
    for (const [v, n] of tally.verbs) owner.verbs.set(v, (owner.verbs.get(v) ?? 0) + n);
    tallies.delete(key);
  }
}

/** The most used spelling, preferring multi-word names, then mixed case over ALL CAPS. */
function displayName(tally: Tally): string {
  const ranked = [...tally.variants.entries()].sort(
    ([a, na], [b, nb]) =>
      b.split(' ').length - a.split(' ').length ||
      Number(a === a.toUpperCase()) - Number(b === b.toUpperCase()) ||
      nb - na ||
      a.localeCompare(b),
  );
  const best = ranked[0]?.[0] ?? '';
  return best === best.toUpperCase() ? titleCase(best) : best;
}

function countMentions(text: string, tally: Tally): number {
  const names = new Set([...tally.variants.keys()].map((v) => v.split(/\s+/).at(-1)!));
  let total = 0;
  for (const name of names) total += countOccurrences(text, name);
  return total;
}

function countOccurrences(text: string, name: string): number {
  const pattern = new RegExp(`(?<![\\p{L}\\p{N}])${escapeRegExp(name)}(?![\\p{L}\\p{N}])`, 'giu');
  return text.match(pattern)?.length ?? 0;
}

/** The first sentence outside dialogue that names the character (else the first at all). */
function describe(text: string, name: string): string {
  const last = name.split(/\s+/).at(-1)!;
  const pattern = new RegExp(`(?<![\\p{L}\\p{N}])${escapeRegExp(last)}(?![\\p{L}\\p{N}])`, 'gu');
  let first: string | undefined;
  let narrative: string | undefined;
  let seen = 0;
  for (const m of text.matchAll(pattern)) {
    const sentence = sentenceAround(text, m.index);
    first ??= sentence;
    if (!/["“”]/.test(sentence)) {
      narrative = sentence;
      break;
    }
    if (++seen >= 50) break;
  }
  const sentence = narrative ?? first;
  const intro = `${name}, a character of the book, who speaks in its dialogue.`;
  if (!sentence) return intro;
  const clipped = sentence.length > 240 ? `${sentence.slice(0, 239)}…` : sentence;
  return `${intro} First seen: “${clipped}”`;
}

function sentenceAround(text: string, at: number): string {
  let start = at;
  while (start > 0 && at - start < 400 && !/[.!?\n]/.test(text[start - 1]!)) start--;
  let end = at;
  while (end < text.length && end - at < 400 && !/[.!?\n]/.test(text[end]!)) end++;
  if (end < text.length && text[end] !== '\n') end++;
  return text.slice(start, end).trim();
}

function personality(tally: Tally): string {
  const verbs = [...tally.verbs.entries()].sort(([a, x], [b, y]) => y - x || a.localeCompare(b));
  const traits = [...new Set(verbs.map(([v]) => VERB_TRAITS[v]).filter((t) => t !== undefined))];
  const how = verbs
    .slice(0, 3)
    .map(([v]) => `“${v}”`)
    .join(', ');
  const lines = how ? ` Their lines are mostly introduced with ${how}.` : '';
  if (traits.length === 0) return `Known from their lines in the book.${lines}`;
  return `Comes across as ${traits.slice(0, 3).join(', ')}.${lines}`;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export { SAFE_NAME_PATTERN, safeName } from './safe-name.js';
export { buildSystemPrompt, type SystemPromptInput } from './system-prompt.js';
