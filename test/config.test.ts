import { describe, expect, it } from 'vitest';
import { ConfigError, DEV_JWT_SECRET, loadConfig } from '../src/config.js';

describe('configuration', () => {
  it('defaults to every store embedded, with the development secret', () => {
    const c = loadConfig({});
    expect(c.port).toBe(4000);
    expect(c.supabase.mode).toBe('embedded');
    expect(c.redis.mode).toBe('embedded');
    expect(c.qdrant.mode).toBe('embedded');
    expect(c.typesense.mode).toBe('embedded');
    expect(c.auth.jwtSecret).toBe(DEV_JWT_SECRET);
    expect(c.auth.usingDevSecret).toBe(true);
    expect(c.dataDir).toBe('.falsafa');
  });

  it('embeds with the word vectors by default, feature hashing or a model on request', () => {
    expect(loadConfig({}).embeddings).toMatchObject({ provider: 'words', dimension: 100 });
    expect(loadConfig({ EMBEDDING_DIMENSION: '384' }).embeddings.dimension).toBe(100);
    expect(loadConfig({ EMBEDDING_PROVIDER: 'local' }).embeddings).toMatchObject({
      provider: 'local',
      dimension: 384,
    });
    expect(() => loadConfig({ EMBEDDING_PROVIDER: 'glove' })).toThrow(ConfigError);
  });

  it('chunks 1,500 characters with 250 overlap; the rerank trusts a model embedder more', () => {
    expect(loadConfig({}).ingestion).toMatchObject({
      chunkTargetChars: 1500,
      chunkOverlapChars: 250,
    });
    expect(loadConfig({}).chat.rerankVectorWeight).toBeCloseTo(1 / 3, 12);
    expect(loadConfig({ EMBEDDING_PROVIDER: 'local' }).chat.rerankVectorWeight).toBeCloseTo(
      1 / 3,
      12,
    );
    const model = {
      EMBEDDING_PROVIDER: 'openai',
      EMBEDDING_BASE_URL: 'http://127.0.0.1:9/v1',
      EMBEDDING_MODEL: 'm',
      EMBEDDING_DIMENSION: '8',
    };
    expect(loadConfig(model).chat.rerankVectorWeight).toBe(0.5);
    expect(
      loadConfig({ ...model, RETRIEVAL_RERANK_VECTOR_WEIGHT: '1' }).chat.rerankVectorWeight,
    ).toBe(1);
    expect(() => loadConfig({ RETRIEVAL_RERANK_VECTOR_WEIGHT: '1.5' })).toThrow(ConfigError);
  });

  it('takes each store real or embedded independently', () => {
    const c = loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379/3' });
    expect(c.redis).toEqual({ mode: 'remote', url: 'redis://127.0.0.1:6379/3' });
    expect(c.supabase.mode).toBe('embedded');
  });

  it('takes a Redis Cluster from REDIS_CLUSTER_NODES, with the credentials every node takes', () => {
    const c = loadConfig({
      REDIS_CLUSTER_NODES: 'redis-a:7000, 10.0.0.2:7001,[::1]:7002',
      REDIS_PASSWORD: 'secret',
      REDIS_TLS: 'true',
    });
    expect(c.redis).toEqual({
      mode: 'remote',
      cluster: {
        nodes: [
          { host: 'redis-a', port: 7000 },
          { host: '10.0.0.2', port: 7001 },
          { host: '::1', port: 7002 },
        ],
        username: undefined,
        password: 'secret',
        tls: true,
      },
    });
    // A shared Redis: no worker in the gateway by default, as with REDIS_URL.
    expect(
      loadConfig({
        REDIS_CLUSTER_NODES: 'a:1',
        SUPABASE_URL: 'https://x.supabase.co',
        SUPABASE_SERVICE_ROLE_KEY: 'k',
      }).worker.concurrency,
    ).toBe(0);
  });

  it('refuses a bad REDIS_CLUSTER_NODES, both Redis settings, and cluster credentials without a cluster', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return '';
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).problems.join('\n');
      }
    };
    expect(problems({ REDIS_CLUSTER_NODES: 'a:7000,b,c:99999' })).toMatch(
      /"b" is not host:port[\s\S]*"c:99999" is not host:port/,
    );
    expect(problems({ REDIS_CLUSTER_NODES: 'a:7000', REDIS_URL: 'redis://a:6379' })).toMatch(
      /set one, not both/,
    );
    expect(problems({ REDIS_PASSWORD: 'secret' })).toMatch(
      /REDIS_PASSWORD: only with REDIS_CLUSTER_NODES/,
    );
    expect(problems({ REDIS_CLUSTER_NODES: 'a:7000', REDIS_TLS: 'maybe' })).toMatch(/REDIS_TLS/);
  });

  it('lists every problem at once', () => {
    try {
      loadConfig({ PORT: 'eighty', SUPABASE_URL: 'not a url', LOG_LEVEL: 'loud' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      expect(problems).toMatch(/PORT/);
      expect(problems).toMatch(/SUPABASE_URL/);
      expect(problems).toMatch(/LOG_LEVEL/);
    }
  });

  it('refuses the development secret with a real Supabase, and needs its key', () => {
    expect(() =>
      loadConfig({ SUPABASE_URL: 'https://x.supabase.co', SUPABASE_JWT_SECRET: DEV_JWT_SECRET }),
    ).toThrow(
      /development default is refused[\s\S]*SUPABASE_SERVICE_ROLE_KEY|SUPABASE_SERVICE_ROLE_KEY[\s\S]*development default/,
    );
  });

  it("verifies with the project's JWKS when a real Supabase has no shared secret", () => {
    const c = loadConfig({ SUPABASE_URL: 'https://x.supabase.co', SUPABASE_SERVICE_ROLE_KEY: 'k' });
    expect(c.auth.jwtSecret).toBeUndefined();
    expect(c.auth.jwksUrl).toBe('https://x.supabase.co/auth/v1/.well-known/jwks.json');
  });
});

describe('Qdrant layout, cluster settings and Typesense nodes', () => {
  it('defaults to one collection per book and leaves sharding to the server', () => {
    expect(loadConfig({}).qdrantCollections).toEqual({
      layout: { kind: 'per-book' },
      sharedCollection: 'book_chunks',
      cluster: {},
    });
  });

  it('takes the shared layout with its collection name and the cluster settings', () => {
    const c = loadConfig({
      QDRANT_LAYOUT: 'shared',
      QDRANT_SHARED_COLLECTION: 'chunks_v2',
      QDRANT_SHARD_NUMBER: '6',
      QDRANT_REPLICATION_FACTOR: '3',
      QDRANT_WRITE_CONSISTENCY_FACTOR: '2',
    });
    expect(c.qdrantCollections).toEqual({
      layout: { kind: 'shared', collection: 'chunks_v2' },
      sharedCollection: 'chunks_v2',
      cluster: { shardNumber: 6, replicationFactor: 3, writeConsistencyFactor: 2 },
    });
    expect(loadConfig({ QDRANT_LAYOUT: 'shared' }).qdrantCollections.layout).toEqual({
      kind: 'shared',
      collection: 'book_chunks',
    });
  });

  it.each([
    [{ QDRANT_LAYOUT: 'single' }, /QDRANT_LAYOUT/],
    [{ QDRANT_SHARED_COLLECTION: 'a/b' }, /QDRANT_SHARED_COLLECTION: must not contain/],
    [
      { QDRANT_SHARED_COLLECTION: 'a0000000-0000-4000-8000-000000000001' },
      /QDRANT_SHARED_COLLECTION: must not be a UUID/,
    ],
    [{ QDRANT_SHARD_NUMBER: '0' }, /QDRANT_SHARD_NUMBER/],
    [{ QDRANT_REPLICATION_FACTOR: 'two' }, /QDRANT_REPLICATION_FACTOR/],
    [
      { QDRANT_REPLICATION_FACTOR: '2', QDRANT_WRITE_CONSISTENCY_FACTOR: '3' },
      /QDRANT_WRITE_CONSISTENCY_FACTOR: must not exceed QDRANT_REPLICATION_FACTOR/,
    ],
    [
      { TYPESENSE_NODES: 'http://a:8108,ftp://b', TYPESENSE_API_KEY: 'k' },
      /TYPESENSE_NODES: "ftp:\/\/b" is not an http\(s\) URL/,
    ],
    [{ TYPESENSE_NODES: 'http://a:8108' }, /TYPESENSE_API_KEY: required/],
    [
      { TYPESENSE_NODES: 'http://a:8108', TYPESENSE_URL: 'http://b:8108', TYPESENSE_API_KEY: 'k' },
      /TYPESENSE_NODES: give either/,
    ],
    [{ TYPESENSE_NEAREST_NODE: 'http://a:8108' }, /TYPESENSE_NEAREST_NODE: needs/],
  ])('refuses %j with a clear problem', (env, problem) => {
    try {
      loadConfig(env);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems.join('\n')).toMatch(problem);
    }
  });

  it('takes several Typesense nodes and a nearest one', () => {
    const c = loadConfig({
      TYPESENSE_NODES: 'http://ts-1:8108, http://ts-2:8108,https://ts-3.example.com',
      TYPESENSE_NEAREST_NODE: 'http://ts-local:8108',
      TYPESENSE_API_KEY: 'key',
    });
    expect(c.typesense).toEqual({
      mode: 'remote',
      url: 'http://ts-1:8108',
      nodes: ['http://ts-1:8108', 'http://ts-2:8108', 'https://ts-3.example.com'],
      nearestNode: 'http://ts-local:8108',
      apiKey: 'key',
    });
    expect(
      loadConfig({ TYPESENSE_URL: 'http://ts:8108', TYPESENSE_API_KEY: 'k' }).typesense,
    ).toEqual({ mode: 'remote', url: 'http://ts:8108', nodes: ['http://ts:8108'], apiKey: 'k' });
  });
});
