/**
 * Persistence of the Typesense stand-in under `dataDir`: one directory per collection holding
 * `collection.json` (schema, sequence counter, creation order) and `documents.jsonl` (documents in
 * sequence order). Every file is written to a temporary name and renamed into place, so a crash
 * leaves either the old or the new file. Writes are debounced: a mutation marks its collection
 * dirty and a flush follows shortly; `flush()` (called by `close()`) writes everything pending.
 * A flush writes the collection's current state, or removes its directory if it was dropped.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CollectionMeta, Doc } from './types.js';

export interface CollectionSnapshot {
  meta: CollectionMeta;
  nextSeq: number;
  order: number;
  docs: Doc[];
}

const META_FILE = 'collection.json';
const DOCS_FILE = 'documents.jsonl';

function dirName(collection: string): string {
  // keep names readable but safe as one path segment ('.' and '..' included)
  return `c_${encodeURIComponent(collection).replace(/\./g, '%2E').replace(/\*/g, '%2A')}`;
}

async function writeAtomic(file: string, content: string): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, content, 'utf8');
  await rename(tmp, file);
}

export class CollectionStore {
  private readonly root: string;
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  private failure: unknown = null;

  constructor(
    dataDir: string,
    private readonly snapshot: (name: string) => CollectionSnapshot | undefined,
    private readonly delayMs = 20,
  ) {
    this.root = path.join(dataDir, 'collections');
  }

  /** Reads every persisted collection. */
  async load(): Promise<CollectionSnapshot[]> {
    await mkdir(this.root, { recursive: true });
    const out: CollectionSnapshot[] = [];
    for (const entry of await readdir(this.root, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const dir = path.join(this.root, entry.name);
      let metaText: string;
      try {
        metaText = await readFile(path.join(dir, META_FILE), 'utf8');
      } catch {
        continue; // not (yet) a complete collection directory
      }
      const saved = JSON.parse(metaText) as Omit<CollectionSnapshot, 'docs'>;
      let docsText = '';
      try {
        docsText = await readFile(path.join(dir, DOCS_FILE), 'utf8');
      } catch {
        docsText = '';
      }
      const docs = docsText
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as Doc);
      out.push({ ...saved, docs });
    }
    return out;
  }

  /** Schedules a write of the collection's current state (or its removal). */
  markDirty(name: string): void {
    this.dirty.add(name);
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush().catch((error: unknown) => {
        this.failure = error;
      });
    }, this.delayMs);
    this.timer.unref();
  }

  /** Writes everything pending; rejects if a write fails (the collection stays pending). */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const names = [...this.dirty];
    this.dirty.clear();
    // serialise now, write later: later mutations are picked up by a later flush
    const jobs = names.map((name) => ({ name, state: this.serialise(name) }));
    const run = this.chain.then(async () => {
      for (const job of jobs) {
        try {
          await this.write(job.name, job.state);
        } catch (error) {
          this.dirty.add(job.name);
          throw error;
        }
      }
    });
    this.chain = run.catch(() => undefined);
    return run.then(async () => {
      // a collection whose background write failed was marked dirty again: retry it now, so
      // that close() reports the failure only if it persists
      if (this.dirty.size > 0 && this.failure) {
        await this.flush();
        return;
      }
      this.failure = null;
    });
  }

  private serialise(name: string): { meta: string; docs: string } | null {
    const snap = this.snapshot(name);
    if (!snap) return null;
    const { docs, ...meta } = snap;
    return {
      meta: JSON.stringify(meta),
      docs: docs.map((d) => JSON.stringify(d)).join('\n'),
    };
  }

  private async write(name: string, state: { meta: string; docs: string } | null): Promise<void> {
    const dir = path.join(this.root, dirName(name));
    if (!state) {
      await rm(dir, { recursive: true, force: true });
      return;
    }
    await mkdir(dir, { recursive: true });
    await writeAtomic(path.join(dir, DOCS_FILE), state.docs);
    await writeAtomic(path.join(dir, META_FILE), state.meta);
  }
}
