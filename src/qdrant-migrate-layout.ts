import { parseArgs } from 'node:util';
import { loadConfigOrExit } from './config.js';
import { StoreCallCounter } from './stores/metrics.js';
import { migrateToSharedLayout } from './stores/vector-layout-migration.js';
import { VectorStore } from './stores/vector-store.js';

/**
 * `npm run qdrant:migrate-layout [-- --delete-source] [--book=ID ...] [--embedder=NAME] [--recopy]`:
 * copies the per-book Qdrant collections at QDRANT_URL into QDRANT_SHARED_COLLECTION (see
 * `migrateToSharedLayout`), one line per book, exit code 1 when a book could not be verified.
 */
async function main() {
  const { values } = parseArgs({
    options: {
      'delete-source': { type: 'boolean', default: false },
      recopy: { type: 'boolean', default: false },
      book: { type: 'string', multiple: true },
      embedder: { type: 'string' },
      batch: { type: 'string', default: '256' },
    },
    strict: true,
  });
  const batchSize = Number(values.batch);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    console.error('--batch: a whole number from 1 to 10000');
    process.exit(2);
  }
  const config = loadConfigOrExit();
  if (config.qdrant.mode !== 'remote') {
    console.error(
      'QDRANT_URL is required: the embedded Qdrant lives inside a running gateway; point QDRANT_URL at it',
    );
    process.exit(2);
  }
  const target = new VectorStore(
    {
      url: config.qdrant.url,
      apiKey: config.qdrant.apiKey,
      timeoutMs: config.storeTimeoutMs,
      layout: { kind: 'shared', collection: config.qdrantCollections.sharedCollection },
      cluster: config.qdrantCollections.cluster,
    },
    new StoreCallCounter(),
  );
  const results = await migrateToSharedLayout({
    client: target.client,
    target,
    ...(values.book ? { books: values.book } : {}),
    ...(values.embedder ? { embedder: values.embedder } : {}),
    deleteSource: values['delete-source'],
    recopy: values.recopy,
    batchSize,
    onBook: (r) =>
      console.log(
        `${r.bookId}: ${r.status}, source ${r.source}, shared ${r.target}` +
          (r.sourceDeleted ? ', source deleted' : '') +
          (r.problem ? ` (${r.problem})` : ''),
      ),
  });
  const failed = results.filter((r) => r.status === 'failed').length;
  console.log(
    `${results.length} books, ${results.length - failed} verified, ${failed} failed; ` +
      `into ${config.qdrantCollections.sharedCollection}`,
  );
  process.exit(failed > 0 ? 1 : 0);
}

main().catch((err) => {
  console.error('layout migration failed:', err instanceof Error ? err.message : err);
  process.exit(1);
});
