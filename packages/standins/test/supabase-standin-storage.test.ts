import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ws from 'ws';
import {
  type SupabaseStandIn,
  signSupabaseJwt,
  startSupabaseStandIn,
} from '../src/supabase/server.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

const SECRET = 'stand-in-storage-secret-with-at-least-32-characters';

let db: TestDatabase;
let standIn: SupabaseStandIn;
let root: string;
let storageDir: string;
let service: SupabaseClient;
let serviceKey: string;

function client(key: string, accessToken?: string): SupabaseClient {
  return createClient(standIn.url, key, {
    realtime: { transport: ws as never },
    auth: { persistSession: false, autoRefreshToken: false },
    ...(accessToken ? { global: { headers: { Authorization: `Bearer ${accessToken}` } } } : {}),
  });
}

/** A request with the path sent exactly as written (fetch would normalize dot segments). */
function rawRequest(
  method: string,
  path: string,
  body: string,
): Promise<{ status: number; body: string }> {
  const url = new URL(standIn.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: {
          apikey: serviceKey,
          authorization: `Bearer ${serviceKey}`,
          'content-type': 'text/plain',
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

beforeAll(async () => {
  db = await createTestDatabase();
  root = await mkdtemp(join(tmpdir(), 'standin-storage-'));
  storageDir = join(root, 'objects');
  standIn = await startSupabaseStandIn({
    databaseUrl: db.url,
    maxConnections: db.maxConnections,
    jwtSecret: SECRET,
    storageDir,
    buckets: ['preset'],
  });
  serviceKey = await signSupabaseJwt(SECRET, { role: 'service_role' });
  service = client(serviceKey);
});

afterAll(async () => {
  await standIn?.close();
  await db?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('storage', () => {
  it('creates, reads and refuses duplicate buckets', async () => {
    const created = await service.storage.createBucket('books', { public: false });
    expect(created).toEqual({ data: { name: 'books' }, error: null });
    const bucket = await service.storage.getBucket('books');
    expect(bucket.data).toMatchObject({ id: 'books', name: 'books', public: false });
    const again = await service.storage.createBucket('books');
    expect(again.error).toMatchObject({
      message: 'The resource already exists',
      statusCode: '409',
    });
    const preset = await service.storage.getBucket('preset');
    expect(preset.error).toBeNull();
    const missing = await service.storage.getBucket('missing');
    expect(missing.error).toMatchObject({ statusCode: '404', message: 'Bucket not found' });
  });

  it('uploads raw bodies and blobs, downloads them with their content type', async () => {
    const bucket = service.storage.from('books');
    const upload = await bucket.upload('user-1/book.txt', Buffer.from('Call me Ishmael.'), {
      contentType: 'text/plain',
    });
    expect(upload.error).toBeNull();
    expect(upload.data).toMatchObject({
      path: 'user-1/book.txt',
      fullPath: 'books/user-1/book.txt',
    });
    expect(upload.data?.id).toMatch(/^[0-9a-f-]{36}$/);

    const download = await bucket.download('user-1/book.txt');
    expect(download.error).toBeNull();
    expect(await download.data?.text()).toBe('Call me Ishmael.');
    expect(download.data?.type).toBe('text/plain');

    const blob = new Blob(['{"chapter":1}'], { type: 'application/json' });
    const viaForm = await bucket.upload('user-1/meta.json', blob);
    expect(viaForm.error).toBeNull();
    const back = await bucket.download('user-1/meta.json');
    expect(await back.data?.text()).toBe('{"chapter":1}');
    expect(back.data?.type).toBe('application/json');

    expect(await readFile(join(storageDir, 'books', 'user-1', 'book.txt'), 'utf8')).toBe(
      'Call me Ishmael.',
    );
    expect(await readdir(join(storageDir, '.tmp'))).toEqual([]);
  });

  it('refuses to overwrite without upsert, overwrites with it', async () => {
    const bucket = service.storage.from('books');
    await bucket.upload('dup.txt', Buffer.from('first'), { contentType: 'text/plain' });
    const duplicate = await bucket.upload('dup.txt', Buffer.from('second'), {
      contentType: 'text/plain',
    });
    expect(duplicate.data).toBeNull();
    expect(duplicate.error).toMatchObject({
      message: 'The resource already exists',
      statusCode: '409',
      status: 400,
    });
    expect(await (await bucket.download('dup.txt')).data?.text()).toBe('first');
    const upserted = await bucket.upload('dup.txt', Buffer.from('third'), {
      contentType: 'text/plain',
      upsert: true,
    });
    expect(upserted.error).toBeNull();
    expect(await (await bucket.download('dup.txt')).data?.text()).toBe('third');
    const updated = await bucket.update('dup.txt', Buffer.from('fourth'), {
      contentType: 'text/plain',
    });
    expect(updated.error).toBeNull();
    expect(await (await bucket.download('dup.txt')).data?.text()).toBe('fourth');
  });

  it('removes objects by prefix list and reports missing ones as not found', async () => {
    const bucket = service.storage.from('books');
    await bucket.upload('gone.txt', Buffer.from('bye'), { contentType: 'text/plain' });
    const removed = await bucket.remove(['gone.txt', 'never-existed.txt']);
    expect(removed.error).toBeNull();
    expect(removed.data?.map((object) => object.name)).toEqual(['gone.txt']);
    const download = await bucket.download('gone.txt');
    expect(download.data).toBeNull();
    expect(download.error).toBeTruthy();
    const listed = await bucket.list('user-1');
    expect(listed.data?.map((object) => object.name)).toEqual(['book.txt', 'meta.json']);
  });

  it('refuses a reader writes and reads outside their own prefix, and forged tokens', async () => {
    const anonKey = await signSupabaseJwt(SECRET, { role: 'anon' });
    const user = await signSupabaseJwt(SECRET, { role: 'authenticated', sub: crypto.randomUUID() });
    const reader = client(anonKey, user).storage.from('books');
    const write = await reader.upload('user-1/hack.txt', Buffer.from('x'), {
      contentType: 'text/plain',
    });
    expect(write.error).toMatchObject({ statusCode: '403' });
    const read = await reader.download('user-1/book.txt');
    expect(read.data).toBeNull();
    const forged = await signSupabaseJwt('a-different-secret-of-sufficient-length!', {
      role: 'service_role',
    });
    const badToken = await client(anonKey, forged)
      .storage.from('books')
      .download('user-1/book.txt');
    expect(badToken.data).toBeNull();
  });

  it('refuses keys that would leave the bucket', async () => {
    for (const path of [
      '/storage/v1/object/books/../../escape.txt',
      '/storage/v1/object/books/%2e%2e/%2e%2e/escape.txt',
      '/storage/v1/object/books/a/..%2F..%2F..%2Fescape.txt',
      '/storage/v1/object/books/a//b.txt',
      '/storage/v1/object/..%2Fbooks/x.txt',
    ]) {
      const response = await rawRequest('POST', path, 'escape');
      expect(response.status, path).toBe(400);
    }
    expect(await readdir(root)).toEqual(['objects']);
    expect((await readdir(storageDir)).sort()).toEqual([
      '.buckets',
      '.meta',
      '.tmp',
      'books',
      'preset',
    ]);
  });
});
