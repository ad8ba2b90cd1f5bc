/**
 * Builds the embedder and the model from plain configuration (the caller reads and checks the
 * environment). `words` (GloVe word vectors, SIF-weighted) and `local` (feature hashing) need
 * nothing; `openai` needs `baseUrl` and `model` (and `dimension` for embeddings), and takes any
 * OpenAI-compatible server.
 */
import { LocalLlm } from './llm-local.js';
import { OpenAILlm } from './llm-openai.js';
import { LocalEmbedder } from './local-embedder.js';
import { OpenAIEmbedder } from './openai-embedder.js';
import type { Embedder, Llm } from './types.js';
import { loadWordVectors, WordVectorEmbedder } from './word-vectors.js';

export interface ProviderConfig {
  provider: 'words' | 'local' | 'openai';
  baseUrl?: string | undefined;
  apiKey?: string | undefined;
  model?: string | undefined;
  dimension?: number | undefined;
  timeoutMs?: number | undefined;
  maxRetries?: number | undefined;
  batchSize?: number | undefined;
  /** The offline model's pause between the words of a paced stream. */
  streamDelayMs?: number | undefined;
  /** Where the word vectors' compact file is kept (`words`). */
  cacheDir?: string | undefined;
}

export function createEmbedder(config: ProviderConfig): Embedder {
  if (config.provider === 'words') {
    return new WordVectorEmbedder(
      loadWordVectors(config.cacheDir === undefined ? {} : { cacheDir: config.cacheDir }),
    );
  }
  if (config.provider === 'local') return new LocalEmbedder(config.dimension ?? 384);
  const { baseUrl, model, dimension } = requireRemote(config, 'embedder');
  if (dimension === undefined) throw new Error('the openai embedder needs a dimension');
  return new OpenAIEmbedder({
    baseUrl,
    model,
    dimension,
    apiKey: config.apiKey,
    ...(config.timeoutMs === undefined ? {} : { timeoutMs: config.timeoutMs }),
    ...(config.maxRetries === undefined ? {} : { maxRetries: config.maxRetries }),
    ...(config.batchSize === undefined ? {} : { batchSize: config.batchSize }),
  });
}

export function createLlm(config: ProviderConfig): Llm {
  if (config.provider !== 'openai') {
    return new LocalLlm(
      config.streamDelayMs === undefined ? {} : { streamDelayMs: config.streamDelayMs },
    );
  }
  const { baseUrl, model } = requireRemote(config, 'model');
  return new OpenAILlm({
    baseUrl,
    model,
    apiKey: config.apiKey,
    ...(config.timeoutMs === undefined ? {} : { timeoutMs: config.timeoutMs }),
    ...(config.maxRetries === undefined ? {} : { maxRetries: config.maxRetries }),
  });
}

function requireRemote(config: ProviderConfig, what: string) {
  const { baseUrl, model } = config;
  if (!baseUrl || !model) throw new Error(`the openai ${what} needs a baseUrl and a model`);
  return { baseUrl, model, dimension: config.dimension };
}

export { LocalLlm } from './llm-local.js';
export { OpenAILlm, type OpenAILlmOptions } from './llm-openai.js';
export { LocalEmbedder } from './local-embedder.js';
export {
  EmbeddingError,
  type EmbeddingErrorCode,
  OpenAIEmbedder,
  type OpenAIEmbedderOptions,
} from './openai-embedder.js';
export * from './types.js';
export { WordVectorEmbedder } from './word-vectors.js';
