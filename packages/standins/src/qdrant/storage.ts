/**
 * Persistence under `dataDir`: one directory per collection holding a single `collection.bin`
 * (magic, JSON header with config, payload indexes, ids, versions and payloads, then the float32
 * vectors), replaced atomically by write-to-temp + fsync + rename. Writes are coalesced per
 * collection and serialised, so a delete never races an older write. Aliases live beside the
 * collections in `aliases.json` (`{alias: collection}`), replaced the same way.
 */
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomically } from '../atomic-file.js';
import { Collection, type StoredPoint } from './collection.js';
import type { CollectionConfig, PayloadIndex } from './config.js';
import type { PointId } from './ids.js';
import type { Payload } from './payload.js';

const MAGIC = Buffer.from('QSI1');
const FILE = 'collection.bin';
const ALIASES = 'aliases.json';
/** The write-queue key for the alias file; no collection name can contain a NUL. */
const ALIASES_KEY = '\0aliases';

interface Header {
  name: string;
  config: CollectionConfig;
  payloadIndexes: Record<string, PayloadIndex>;
  nextOperationId: number;
  points: { id: PointId; version: number; payload: Payload; vectors: [string, number][] }[];
}

export function encodeCollection(col: Collection): Buffer {
  const chunks: Float32Array[] = [];
  const points: Header['points'] = [];
  for (const p of col.points.values()) {
    const vectors: [string, number][] = [];
    for (const [name, v] of p.vectors) {
      vectors.push([name, v.length]);
      chunks.push(v);
    }
    points.push({ id: p.id, version: p.version, payload: p.payload, vectors });
  }
  const header: Header = {
    name: col.name,
    config: col.config,
    payloadIndexes: col.payloadIndexes,
    nextOperationId: col.nextOperationId,
    points,
  };
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length);
  const vectorBytes = chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength));
  return Buffer.concat([MAGIC, len, json, ...vectorBytes]);
}

export function decodeCollection(buf: Buffer): Collection {
  if (!buf.subarray(0, 4).equals(MAGIC)) throw new Error('not a Qdrant stand-in collection file');
  const len = buf.readUInt32LE(4);
  const header = JSON.parse(buf.subarray(8, 8 + len).toString('utf8')) as Header;
  const col = new Collection(header.name, header.config);
  col.payloadIndexes = header.payloadIndexes;
  col.nextOperationId = header.nextOperationId;
  let offset = 8 + len;
  for (const p of header.points) {
    const vectors = new Map<string, Float32Array>();
    for (const [name, size] of p.vectors) {
      const bytes = buf.subarray(offset, offset + size * 4);
      vectors.set(
        name,
        new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)),
      );
      offset += size * 4;
    }
    const point: StoredPoint = { id: p.id, version: p.version, payload: p.payload, vectors };
    col.points.set(p.id, point);
  }
  return col;
}

/** Directory name for a collection; never `.`/`..` and never a path separator. */
export function dirName(name: string): string {
  return encodeURIComponent(name).replace(/^\./, '%2E');
}

export class CollectionStore {
  private readonly chains = new Map<string, Promise<void>>();
  private readonly pending = new Map<string, Promise<void>>();
  private tmpCounter = 0;

  constructor(private readonly dataDir: string) {}

  private get root(): string {
    return join(this.dataDir, 'collections');
  }

  async loadAll(): Promise<Collection[]> {
    await mkdir(this.root, { recursive: true });
    const out: Collection[] = [];
    for (const entry of await readdir(this.root, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      let buf: Buffer;
      try {
        buf = await readFile(join(this.root, entry.name, FILE));
      } catch {
        continue; // a directory whose first write never completed
      }
      out.push(decodeCollection(buf));
    }
    return out;
  }

  async loadAliases(): Promise<Map<string, string>> {
    let text: string;
    try {
      text = await readFile(join(this.dataDir, ALIASES), 'utf8');
    } catch {
      return new Map();
    }
    return new Map(Object.entries(JSON.parse(text) as Record<string, string>));
  }

  /** Persists the alias table as it is when the write runs. */
  saveAliases(current: () => Map<string, string>): Promise<void> {
    return this.enqueue(ALIASES_KEY, () =>
      writeFileAtomically(
        join(this.dataDir, ALIASES),
        JSON.stringify(Object.fromEntries(current())),
        { replace: true },
      ).then(() => {}),
    );
  }

  private enqueue(name: string, task: () => Promise<void>): Promise<void> {
    const prev = this.chains.get(name) ?? Promise.resolve();
    const next = prev.then(task, task);
    this.chains.set(name, next);
    void next.finally(() => {
      if (this.chains.get(name) === next) this.chains.delete(name);
    });
    return next;
  }

  /** Persists the collection's current state soon; resolves once it is on disk. */
  save(col: Collection, isLive: () => boolean): Promise<void> {
    const existing = this.pending.get(col.name);
    if (existing) return existing;
    const job = this.enqueue(col.name, async () => {
      this.pending.delete(col.name);
      if (!isLive()) return;
      await this.writeAtomically(col.name, encodeCollection(col));
    });
    this.pending.set(col.name, job);
    return job;
  }

  remove(name: string): Promise<void> {
    this.pending.delete(name);
    return this.enqueue(name, () =>
      rm(join(this.root, dirName(name)), { recursive: true, force: true }),
    );
  }

  private async writeAtomically(name: string, data: Buffer): Promise<void> {
    const dir = join(this.root, dirName(name));
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `${FILE}.tmp-${process.pid}-${this.tmpCounter++}`);
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, join(dir, FILE));
  }

  /** Waits for every queued write and delete. */
  async flush(): Promise<void> {
    while (this.chains.size > 0) await Promise.allSettled([...this.chains.values()]);
  }
}
