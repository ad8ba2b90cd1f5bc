import { readdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';

/**
 * The project's own data-layout document: the README points at it (and at nothing outside the
 * repository), and it names every table of the migrations and every Redis key and channel the
 * code builds.
 */

const root = new URL('..', import.meta.url);
const read = (path: string) => readFile(new URL(path, root), 'utf8');

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(new URL(dir, root), { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => `${e.parentPath}/${e.name}`);
}

describe('docs/data-layout.md', () => {
  it('is what the README links to, and the README links nothing outside the repository', async () => {
    const readme = await read('README.md');
    expect(readme).toContain('](docs/data-layout.md)');
    const targets = [...readme.matchAll(/\]\(([^)]+)\)/g)].map((m) => m[1]!);
    expect(targets.filter((t) => t.startsWith('..') || t.startsWith('/'))).toEqual([]);
  });

  it('names every table and every Redis key and channel', async () => {
    const doc = await read('docs/data-layout.md');
    const tables: string[] = [];
    for (const file of await readdir(new URL('supabase/migrations/', root))) {
      const sql = await read(`supabase/migrations/${file}`);
      for (const m of sql.matchAll(/create table if not exists public\.(\w+)/g)) tables.push(m[1]!);
    }
    expect(tables.length).toBeGreaterThan(0);
    for (const table of tables) expect(doc).toContain(`\`${table}\``);

    // Key prefixes as the code writes them: 'chat:book:', `chat:sess:${…}`, 'processing_queue',
    // `{processing_queue}:inflight:${…}` (hash-tagged), …
    const keys = new Set<string>();
    const pattern =
      /['`]((?:chat|chat_page_version|ratelimit|apq|book_progress|processing_queue|\{processing_queue\})(?::[a-z_]+)*:?)(?:\$\{|['`])|['`](processing_queue|catalog_changes)['`]/g;
    for (const file of await sourceFiles('src/')) {
      for (const m of (await readFile(file, 'utf8')).matchAll(pattern)) keys.add(m[1] ?? m[2]!);
    }
    expect(keys.size).toBeGreaterThan(5);
    const missing = [...keys].filter((key) => !doc.includes(`\`${key}`));
    expect(missing).toEqual([]);
  });
});
