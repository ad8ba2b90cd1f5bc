import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * `npm run codegen`: prints the code-first schema, sorted, to schema/schema.graphql, and generates
 * typed documents for the frontend's operations in client/operations (client preset), with their
 * sha256 hashes (client/generated/persisted-documents.json, the trusted documents).
 * The schema is loaded from schema/index.ts (its `sortedSchema` export).
 */
const config: CodegenConfig = {
  overwrite: true,
  schema: './schema/index.ts',
  documents: ['client/operations/*.graphql'],
  generates: {
    'schema/schema.graphql': {
      plugins: ['schema-ast'],
      config: { sort: true, includeDirectives: false, commentDescriptions: false },
    },
    'client/generated/': {
      preset: 'client',
      config: {
        emitLegacyCommonJSImports: false,
        useTypeImports: true,
        enumsAsTypes: true,
        scalars: { DateTime: 'string', File: 'File' },
      },
      // persisted-documents.json (sha256 hash -> document) is the trusted-documents list the
      // gateway serves with TRUSTED_DOCUMENTS=true; each typed document carries its hash.
      presetConfig: { fragmentMasking: false, persistedDocuments: { hashAlgorithm: 'sha256' } },
    },
  },
};

export default config;
