/**
 * The Supabase Storage subset of the stand-in (`/storage/v1`), kept on the filesystem:
 * buckets in `{root}/.buckets/{id}.json`, objects in `{root}/{bucket}/{path}`, each with a sidecar
 * `{root}/.meta/{bucket}/{path}.json` (content type, cache control, id, timestamps). Files are
 * written to `{root}/.tmp` and renamed into place (or hard-linked, for create-if-absent), so a
 * reader never sees half a file. Paths with `..`, `.`, empty or encoded-slash segments are refused.
 *
 * Access, as in Supabase: every object also has its row in `storage.objects` (bucket, name,
 * owner), written, read and deleted in the request's transaction as the caller's role with its
 * JWT claims, so the row-level security policies of `storage.objects` decide what a reader may
 * upload, download or remove (the service role bypasses them; a public bucket's `public` URLs
 * need no row). Move and copy (`POST /object/move`, `/object/copy`) check the policies as Supabase
 * Storage does: a move selects the source and updates its row to the destination's bucket, name
 * and owner (the update policy's USING on the source, its WITH CHECK on the destination); a copy
 * selects the source and inserts the destination's row (the insert policy). Listing and bucket
 * changes need the service role. Errors use Storage's shape
 * `{statusCode, error, message}` with HTTP 400, as Supabase Storage answers them.
 */

import { randomUUID } from 'node:crypto';
import { link, mkdir, readdir, readFile, rm, unlink } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { dirname, join, relative } from 'node:path';
import type postgres from 'postgres';
import { writeFileAtomically } from '../atomic-file.js';
import { actAsCaller, type RequestAuth } from './caller.js';
import { isConnectionLost } from './errors.js';
import type { ConnectionPool } from './pool.js';

export interface StorageRequest {
  method: string;
  /** The path after `/storage/v1/`, still percent-encoded. */
  resource: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface StorageReply {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer;
}

interface Bucket {
  id: string;
  name: string;
  owner: string;
  public: boolean;
  file_size_limit: number | null;
  allowed_mime_types: string[] | null;
  created_at: string;
  updated_at: string;
}

interface ObjectMeta {
  id: string;
  contentType: string;
  cacheControl: string;
  size: number;
  createdAt: string;
  updatedAt: string;
  metadata: Record<string, unknown> | null;
}

class StorageError extends Error {
  constructor(
    readonly statusCode: string,
    readonly error: string,
    message: string,
    readonly httpStatus = 400,
  ) {
    super(message);
  }
}

const duplicate = () => new StorageError('409', 'Duplicate', 'The resource already exists');
const objectNotFound = () => new StorageError('404', 'not_found', 'Object not found');
const bucketNotFound = () => new StorageError('404', 'Bucket not found', 'Bucket not found');
const forbidden = () =>
  new StorageError('403', 'Unauthorized', 'new row violates row-level security policy');
const invalidKey = (key: string) => new StorageError('400', 'InvalidKey', `Invalid key: ${key}`);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BUCKET_ID = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}$/;

function json(status: number, value: unknown): StorageReply {
  return {
    status,
    headers: { 'Content-Type': 'application/json; charset=utf-8' },
    body: JSON.stringify(value),
  };
}

function checkBucketId(id: string): string {
  if (!BUCKET_ID.test(id))
    throw new StorageError('400', 'Invalid Input', `Invalid bucket name: ${id}`);
  return id;
}

/** Decodes and checks an object key's segments; returns them. */
function objectSegments(raw: string[]): string[] {
  const segments = raw.map((segment) => {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      throw invalidKey(raw.join('/'));
    }
    if (decoded === '' || decoded === '.' || decoded === '..' || /[/\\\0]/.test(decoded)) {
      throw invalidKey(raw.join('/'));
    }
    return decoded;
  });
  if (segments.length === 0) throw invalidKey('');
  return segments;
}

/** What an object's row records: who uploaded it, and the file's metadata. */
interface ObjectRow {
  name: string;
}

export class StorageService {
  constructor(
    private readonly root: string,
    private readonly pool: ConnectionPool,
    private readonly statementTimeoutMs?: number,
  ) {}

  /** Runs `fn` in one transaction as the caller (see caller.ts); an RLS refusal is `forbidden`. */
  private async asCaller<T>(
    request: StorageRequest,
    auth: RequestAuth,
    fn: (tx: postgres.TransactionSql) => Promise<T>,
  ): Promise<T> {
    const sql = this.pool.sql;
    try {
      const result = await sql.begin(async (tx) => {
        try {
          await actAsCaller(
            tx,
            auth,
            { method: request.method, path: `/storage/v1/${request.resource}`, headers: {} },
            this.statementTimeoutMs,
          );
          return await fn(tx);
        } catch (error) {
          // As in rest.ts: never settle on a dead connection (postgres.js would write a ROLLBACK
          // to it and throw from a timer); `begin` itself rejects when the connection closes.
          if (isConnectionLost(error)) await new Promise<never>(() => {});
          throw error;
        }
      });
      return result as T;
    } catch (error) {
      if (isConnectionLost(error)) this.pool.replace(sql);
      const code = (error as { code?: unknown }).code;
      if (code === '42501') throw forbidden();
      if (code === '23505') throw duplicate();
      throw error;
    }
  }

  /** Creates buckets that must exist from the start (idempotent). */
  async ensureBuckets(ids: string[]): Promise<void> {
    for (const id of ids) {
      try {
        await this.createBucket({ id, name: id });
      } catch (error) {
        if (!(error instanceof StorageError && error.statusCode === '409')) throw error;
      }
    }
  }

  async handle(request: StorageRequest, auth: RequestAuth): Promise<StorageReply> {
    try {
      return await this.route(request, auth);
    } catch (error) {
      if (error instanceof StorageError) {
        return json(error.httpStatus, {
          statusCode: error.statusCode,
          error: error.error,
          message: error.message,
        });
      }
      return json(500, {
        statusCode: '500',
        error: 'Internal Server Error',
        message: error instanceof Error ? error.message : String(error),
      });
    }
  }

  private async route(request: StorageRequest, auth: RequestAuth): Promise<StorageReply> {
    const parts = request.resource.split('/');
    const [head, ...rest] = parts;
    const service = auth.role === 'service_role';
    const writing = request.method !== 'GET' && request.method !== 'HEAD';
    if (head === 'bucket') {
      if (!service) throw forbidden();
      return this.bucketRoute(request, rest);
    }
    if (head !== 'object') throw new StorageError('404', 'Not Found', 'Route not found', 404);
    if (writing && rest[0] === 'list') {
      if (!service) throw forbidden();
      return this.list(checkBucketId(rest[1] ?? ''), request.body);
    }
    if (request.method === 'POST' && rest.length === 1 && rest[0] === 'move') {
      return this.move(request, auth);
    }
    if (request.method === 'POST' && rest.length === 1 && rest[0] === 'copy') {
      return this.copy(request, auth);
    }
    if (!writing) {
      const scope = rest[0] === 'authenticated' || rest[0] === 'public' ? rest.shift() : undefined;
      const [bucketId = '', ...key] = rest;
      return this.download(checkBucketId(bucketId), objectSegments(key), request, auth, scope);
    }
    const [bucketId = '', ...key] = rest;
    checkBucketId(bucketId);
    if (request.method === 'DELETE' && key.length === 0) {
      return this.remove(bucketId, request, auth);
    }
    if (request.method === 'POST' || request.method === 'PUT') {
      const upsert = request.method === 'PUT' || request.headers['x-upsert'] === 'true';
      return this.upload(bucketId, objectSegments(key), request, auth, upsert);
    }
    throw new StorageError(
      '405',
      'Method Not Allowed',
      `Method ${request.method} not allowed`,
      405,
    );
  }

  // Buckets

  private bucketFile(id: string): string {
    return join(this.root, '.buckets', `${id}.json`);
  }

  private async readBucket(id: string): Promise<Bucket> {
    try {
      return JSON.parse(await readFile(this.bucketFile(checkBucketId(id)), 'utf8')) as Bucket;
    } catch (error) {
      if (error instanceof StorageError) throw error;
      throw bucketNotFound();
    }
  }

  private async createBucket(input: Record<string, unknown>): Promise<Bucket> {
    const id = checkBucketId(String(input.id ?? input.name ?? ''));
    const now = new Date().toISOString();
    const bucket: Bucket = {
      id,
      name: typeof input.name === 'string' ? input.name : id,
      owner: '',
      public: input.public === true,
      file_size_limit: typeof input.file_size_limit === 'number' ? input.file_size_limit : null,
      allowed_mime_types: Array.isArray(input.allowed_mime_types)
        ? input.allowed_mime_types.map(String)
        : null,
      created_at: now,
      updated_at: now,
    };
    const created = await this.writeAtomically(
      this.bucketFile(id),
      Buffer.from(JSON.stringify(bucket)),
      false,
    );
    if (!created) throw duplicate();
    await mkdir(join(this.root, id), { recursive: true });
    return bucket;
  }

  private async bucketRoute(request: StorageRequest, rest: string[]): Promise<StorageReply> {
    const [id, action] = rest;
    if (request.method === 'POST' && id === undefined) {
      const bucket = await this.createBucket(parseJson(request.body));
      return json(200, { name: bucket.id });
    }
    if (request.method === 'GET' && (id === undefined || id === '')) {
      await mkdir(join(this.root, '.buckets'), { recursive: true });
      const files = (await readdir(join(this.root, '.buckets'))).filter((f) => f.endsWith('.json'));
      const buckets = await Promise.all(files.map((f) => this.readBucket(f.slice(0, -5))));
      return json(200, buckets);
    }
    if (id === undefined) throw bucketNotFound();
    if (request.method === 'GET') return json(200, await this.readBucket(id));
    if (request.method === 'POST' && action === 'empty') {
      await this.readBucket(id);
      await this.pool.sql`delete from storage.objects where bucket_id = ${id}`;
      await rm(join(this.root, id), { recursive: true, force: true });
      await rm(join(this.root, '.meta', id), { recursive: true, force: true });
      await mkdir(join(this.root, id), { recursive: true });
      return json(200, { message: 'Successfully emptied' });
    }
    if (request.method === 'DELETE') {
      await this.readBucket(id);
      const entries = await readdir(join(this.root, id)).catch(() => []);
      if (entries.length > 0) {
        throw new StorageError(
          '409',
          'Bucket not empty',
          'The bucket you tried to delete is not empty',
        );
      }
      await rm(join(this.root, id), { recursive: true, force: true });
      await unlink(this.bucketFile(id));
      return json(200, { message: 'Successfully deleted' });
    }
    throw new StorageError(
      '405',
      'Method Not Allowed',
      `Method ${request.method} not allowed`,
      405,
    );
  }

  // Objects

  private objectPath(bucket: string, key: string[]): string {
    return join(this.root, bucket, ...key);
  }

  private metaPath(bucket: string, key: string[]): string {
    const last = key[key.length - 1] as string;
    return join(this.root, '.meta', bucket, ...key.slice(0, -1), `${last}.json`);
  }

  /** Writes through a temporary file under the root (see writeFileAtomically). */
  private writeAtomically(target: string, data: Buffer, replace: boolean): Promise<boolean> {
    return writeFileAtomically(target, data, { replace, tmpDir: join(this.root, '.tmp') });
  }

  private async upload(
    bucketId: string,
    key: string[],
    request: StorageRequest,
    auth: RequestAuth,
    upsert: boolean,
  ): Promise<StorageReply> {
    const bucket = await this.readBucket(bucketId);
    const file = await readUpload(request);
    if (bucket.file_size_limit !== null && file.data.length > bucket.file_size_limit) {
      throw new StorageError(
        '413',
        'Payload too large',
        'The object exceeded the maximum allowed size',
      );
    }
    const target = this.objectPath(bucketId, key);
    const metaFile = this.metaPath(bucketId, key);
    const previous = await readMeta(metaFile);
    const now = new Date().toISOString();
    const meta: ObjectMeta = {
      id: previous && upsert ? previous.id : randomUUID(),
      contentType: file.contentType,
      cacheControl: file.cacheControl,
      size: file.data.length,
      createdAt: previous && upsert ? previous.createdAt : now,
      updatedAt: now,
      metadata: file.metadata,
    };
    const name = key.join('/');
    const owner = this.ownerOf(auth);
    const metadata = JSON.stringify({ size: meta.size, mimetype: meta.contentType });
    // The row first, as the caller (its policies decide), then the file, in the row's transaction:
    // a refused row writes no file, and a failed file write leaves no row.
    await this.asCaller(request, auth, async (tx) => {
      await insertObjectRow(tx, { id: meta.id, bucketId, name, owner, metadata }, upsert);
      const written = await this.writeAtomically(target, file.data, upsert);
      if (!written) throw duplicate();
    });
    await this.writeAtomically(metaFile, Buffer.from(JSON.stringify(meta)), true);
    return json(200, { Id: meta.id, Key: `${bucketId}/${name}` });
  }

  private async download(
    bucketId: string,
    key: string[],
    request: StorageRequest,
    auth: RequestAuth,
    scope: string | undefined,
  ): Promise<StorageReply> {
    const method = request.method;
    const bucket = await this.readBucket(bucketId);
    if (scope === 'public' && !bucket.public) throw bucketNotFound();
    if (auth.role !== 'service_role' && !(bucket.public && scope === 'public')) {
      // A reader sees the objects whose rows the policies let them select.
      const visible = await this.asCaller(
        request,
        auth,
        (tx) => tx<ObjectRow[]>`
          select name from storage.objects where bucket_id = ${bucketId} and name = ${key.join('/')}`,
      );
      if (visible.length === 0) throw objectNotFound();
    }
    let data: Buffer;
    try {
      data = await readFile(this.objectPath(bucketId, key));
    } catch {
      throw objectNotFound();
    }
    const meta = await readMeta(this.metaPath(bucketId, key));
    const headers: Record<string, string> = {
      'Content-Type': meta?.contentType ?? 'application/octet-stream',
      'Cache-Control': meta?.cacheControl ?? 'no-cache',
      'Content-Length': String(data.length),
    };
    if (meta) headers['Last-Modified'] = new Date(meta.updatedAt).toUTCString();
    return { status: 200, headers, body: method === 'HEAD' ? '' : data };
  }

  private async remove(
    bucketId: string,
    request: StorageRequest,
    auth: RequestAuth,
  ): Promise<StorageReply> {
    await this.readBucket(bucketId);
    const input = parseJson(request.body);
    const prefixes = Array.isArray(input.prefixes) ? input.prefixes.map(String) : [];
    const keys: string[][] = [];
    for (const prefix of prefixes) {
      try {
        keys.push(objectSegments(prefix.replace(/^\/+/, '').split('/').map(encodeURIComponent)));
      } catch {
        // Not a key of this bucket: nothing to remove, as Storage answers it.
      }
    }
    const names = keys.map((key) => key.join('/'));
    // The rows the policies let the caller delete go first; then their files. The service role
    // also removes files that have no row.
    const deleted = await this.asCaller(
      request,
      auth,
      (tx) => tx<ObjectRow[]>`
        delete from storage.objects
        where bucket_id = ${bucketId} and name in ${tx(names.length > 0 ? names : [''])}
        returning name`,
    );
    const allowed = new Set(deleted.map((row) => row.name));
    const removed: unknown[] = [];
    for (const key of keys) {
      if (auth.role !== 'service_role' && !allowed.has(key.join('/'))) continue;
      const metaFile = this.metaPath(bucketId, key);
      const meta = await readMeta(metaFile);
      try {
        await unlink(this.objectPath(bucketId, key));
      } catch {
        continue;
      }
      await rm(metaFile, { force: true });
      removed.push(objectInfo(bucketId, key.join('/'), meta));
    }
    return json(200, removed);
  }

  /** The source and destination of a move or copy: `{bucketId, sourceKey, destinationKey, destinationBucket?}`. */
  private async transferInput(request: StorageRequest) {
    const input = parseJson(request.body);
    const text = (field: string): string => {
      const value = input[field];
      if (typeof value !== 'string' || value === '') {
        throw new StorageError(
          '400',
          'Invalid Input',
          `body must have required property '${field}'`,
        );
      }
      return value;
    };
    const key = (raw: string) => objectSegments(raw.split('/').map(encodeURIComponent));
    const from = { bucket: checkBucketId(text('bucketId')), key: key(text('sourceKey')) };
    const destinationBucket =
      input.destinationBucket === undefined || input.destinationBucket === null
        ? from.bucket
        : checkBucketId(text('destinationBucket'));
    const to = { bucket: destinationBucket, key: key(text('destinationKey')) };
    await this.readBucket(from.bucket);
    if (to.bucket !== from.bucket) await this.readBucket(to.bucket);
    return { from, to };
  }

  private ownerOf(auth: RequestAuth): string | null {
    return auth.role !== 'service_role' && auth.sub && UUID.test(auth.sub) ? auth.sub : null;
  }

  /**
   * Moves an object: as the caller, the source's row must be visible (else not found) and the
   * update of that row to the destination (bucket, name, the caller as owner) must pass the
   * update policy; a destination that exists is a duplicate. The file is linked at its new path
   * in the row's transaction (so a refused or failed move leaves both as they were), then
   * unlinked from the old one.
   */
  private async move(request: StorageRequest, auth: RequestAuth): Promise<StorageReply> {
    const { from, to } = await this.transferInput(request);
    const fromName = from.key.join('/');
    const toName = to.key.join('/');
    const owner = this.ownerOf(auth);
    const fromFile = this.objectPath(from.bucket, from.key);
    const toFile = this.objectPath(to.bucket, to.key);
    let linked = false;
    try {
      await this.asCaller(request, auth, async (tx) => {
        const visible = await tx<ObjectRow[]>`
          select name from storage.objects where bucket_id = ${from.bucket} and name = ${fromName}`;
        if (visible.length === 0) throw objectNotFound();
        if (from.bucket === to.bucket && fromName === toName) return;
        const moved = await tx<ObjectRow[]>`
          update storage.objects
            set bucket_id = ${to.bucket}, name = ${toName},
                owner = coalesce(${owner}::uuid, owner), owner_id = coalesce(${owner}, owner_id),
                updated_at = now()
            where bucket_id = ${from.bucket} and name = ${fromName}
            returning name`;
        if (moved.length === 0) throw forbidden();
        await mkdir(dirname(toFile), { recursive: true });
        try {
          await link(fromFile, toFile);
        } catch (error) {
          const code = (error as { code?: unknown }).code;
          if (code === 'EEXIST') throw duplicate();
          if (code === 'ENOENT') throw objectNotFound();
          throw error;
        }
        linked = true;
      });
    } catch (error) {
      if (linked) await rm(toFile, { force: true });
      throw error;
    }
    if (!linked) return json(200, { message: 'Successfully moved' });
    await rm(fromFile, { force: true });
    const fromMeta = this.metaPath(from.bucket, from.key);
    const meta = await readMeta(fromMeta);
    if (meta) {
      const updated = { ...meta, updatedAt: new Date().toISOString() };
      await this.writeAtomically(
        this.metaPath(to.bucket, to.key),
        Buffer.from(JSON.stringify(updated)),
        true,
      );
    }
    await rm(fromMeta, { force: true });
    return json(200, { message: 'Successfully moved' });
  }

  /**
   * Copies an object: as the caller, the source's row must be visible (else not found) and the
   * destination's row (the caller as owner) must pass the insert policy (with `x-upsert: true`,
   * an existing destination is overwritten if the update policy allows it; else it is a
   * duplicate). The copy's file is written in the row's transaction.
   */
  private async copy(request: StorageRequest, auth: RequestAuth): Promise<StorageReply> {
    const { from, to } = await this.transferInput(request);
    const upsert = request.headers['x-upsert'] === 'true';
    const fromName = from.key.join('/');
    const toName = to.key.join('/');
    const owner = this.ownerOf(auth);
    const id = randomUUID();
    const source = await readMeta(this.metaPath(from.bucket, from.key));
    await this.asCaller(request, auth, async (tx) => {
      const visible = await tx<(ObjectRow & { metadata: unknown })[]>`
        select name, metadata from storage.objects
        where bucket_id = ${from.bucket} and name = ${fromName}`;
      const row = visible[0];
      if (!row) throw objectNotFound();
      const metadata = JSON.stringify(row.metadata ?? null);
      const destination = { id, bucketId: to.bucket, name: toName, owner, metadata };
      await insertObjectRow(tx, destination, upsert);
      let data: Buffer;
      try {
        data = await readFile(this.objectPath(from.bucket, from.key));
      } catch {
        throw objectNotFound();
      }
      const written = await this.writeAtomically(this.objectPath(to.bucket, to.key), data, upsert);
      if (!written) throw duplicate();
    });
    const now = new Date().toISOString();
    const meta: ObjectMeta = {
      id,
      contentType: source?.contentType ?? 'application/octet-stream',
      cacheControl: source?.cacheControl ?? 'max-age=3600',
      size: source?.size ?? 0,
      createdAt: now,
      updatedAt: now,
      metadata: source?.metadata ?? null,
    };
    await this.writeAtomically(
      this.metaPath(to.bucket, to.key),
      Buffer.from(JSON.stringify(meta)),
      true,
    );
    return json(200, { Id: id, Key: `${to.bucket}/${toName}`, name: toName, bucket_id: to.bucket });
  }

  private async list(bucketId: string, body: Buffer): Promise<StorageReply> {
    await this.readBucket(bucketId);
    const input = parseJson(body);
    const prefix = typeof input.prefix === 'string' ? input.prefix.replace(/^\/+|\/+$/g, '') : '';
    const key = prefix === '' ? [] : objectSegments(prefix.split('/').map(encodeURIComponent));
    const dir = join(this.root, bucketId, ...key);
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    const items = await Promise.all(
      entries
        .filter((entry) =>
          entry.name.toLowerCase().includes(String(input.search ?? '').toLowerCase()),
        )
        .sort((a, b) => a.name.localeCompare(b.name))
        .map(async (entry) => {
          if (entry.isDirectory()) {
            return {
              name: entry.name,
              id: null,
              updated_at: null,
              created_at: null,
              last_accessed_at: null,
              metadata: null,
            };
          }
          const path = relative(join(this.root, bucketId), join(dir, entry.name)).split(/[\\/]/);
          const meta = await readMeta(this.metaPath(bucketId, path));
          return objectInfo(bucketId, entry.name, meta);
        }),
    );
    const offset = typeof input.offset === 'number' ? input.offset : 0;
    const limit = typeof input.limit === 'number' ? input.limit : 100;
    return json(200, items.slice(offset, offset + limit));
  }
}

/**
 * Inserts an object's row as the transaction's caller (its insert policy decides; with `upsert`,
 * an existing row is updated if the update policy allows it); an existing row without `upsert`
 * is a duplicate.
 */
async function insertObjectRow(
  tx: postgres.TransactionSql,
  row: { id: string; bucketId: string; name: string; owner: string | null; metadata: string },
  upsert: boolean,
): Promise<void> {
  const { id, bucketId, name, owner, metadata } = row;
  const rows = upsert
    ? await tx<ObjectRow[]>`
        insert into storage.objects (id, bucket_id, name, owner, owner_id, metadata)
        values (${id}::uuid, ${bucketId}, ${name}, ${owner}::uuid, ${owner}, ${metadata}::jsonb)
        on conflict (bucket_id, name) do update
          set owner = excluded.owner, owner_id = excluded.owner_id,
              metadata = excluded.metadata, updated_at = now()
        returning name`
    : await tx<ObjectRow[]>`
        insert into storage.objects (id, bucket_id, name, owner, owner_id, metadata)
        values (${id}::uuid, ${bucketId}, ${name}, ${owner}::uuid, ${owner}, ${metadata}::jsonb)
        on conflict (bucket_id, name) do nothing
        returning name`;
  if (rows.length === 0) throw duplicate();
}

function objectInfo(bucketId: string, name: string, meta: ObjectMeta | undefined) {
  return {
    name,
    bucket_id: bucketId,
    owner: '',
    id: meta?.id ?? null,
    created_at: meta?.createdAt ?? null,
    updated_at: meta?.updatedAt ?? null,
    last_accessed_at: meta?.updatedAt ?? null,
    metadata: meta
      ? {
          size: meta.size,
          mimetype: meta.contentType,
          cacheControl: meta.cacheControl,
          lastModified: meta.updatedAt,
          contentLength: meta.size,
          httpStatusCode: 200,
        }
      : null,
  };
}

async function readMeta(path: string): Promise<ObjectMeta | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as ObjectMeta;
  } catch {
    return undefined;
  }
}

function parseJson(body: Buffer): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(body.toString('utf8') || '{}');
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      return value as Record<string, unknown>;
    }
  } catch {
    // fall through
  }
  throw new StorageError('400', 'Invalid JSON', 'The request body is not a JSON object');
}

interface Upload {
  data: Buffer;
  contentType: string;
  cacheControl: string;
  metadata: Record<string, unknown> | null;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The uploaded file: a multipart form (what storage-js sends for a Blob) or the raw body. */
async function readUpload(request: StorageRequest): Promise<Upload> {
  const contentType = header(request.headers, 'content-type') ?? 'application/octet-stream';
  if (contentType.toLowerCase().startsWith('multipart/form-data')) {
    const form = await new Request('http://storage.local/upload', {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: new Uint8Array(request.body),
    }).formData();
    let file: File | undefined;
    for (const value of form.values()) {
      if (typeof value !== 'string') {
        file = value;
        break;
      }
    }
    if (!file) throw new StorageError('400', 'Invalid Input', 'No file in the form');
    const cacheControl = form.get('cacheControl');
    const metadata = form.get('metadata');
    return {
      data: Buffer.from(await file.arrayBuffer()),
      contentType: file.type || 'application/octet-stream',
      cacheControl: `max-age=${typeof cacheControl === 'string' ? cacheControl : '3600'}`,
      metadata: typeof metadata === 'string' ? safeJson(metadata) : null,
    };
  }
  const metadataHeader = header(request.headers, 'x-metadata');
  return {
    data: request.body,
    contentType,
    cacheControl: header(request.headers, 'cache-control') ?? 'max-age=3600',
    metadata: metadataHeader
      ? safeJson(Buffer.from(metadataHeader, 'base64').toString('utf8'))
      : null,
  };
}

function safeJson(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
