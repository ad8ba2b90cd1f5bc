import type { CodegenConfig } from '@graphql-codegen/cli';
import type { Types } from '@graphql-codegen/plugin-helpers';
import { type DocumentNode, Kind, type SelectionSetNode, visit } from 'graphql';

const TYPENAME = { kind: Kind.FIELD, name: { kind: Kind.NAME, value: '__typename' } } as const;

/**
 * `__typename` in every selection set but the operations' roots, as Apollo Client's
 * `addTypenameToDocument` writes it: the trusted documents then carry what a normalised cache
 * needs to identify each object.
 */
export function addTypename(document: DocumentNode): DocumentNode {
  return visit(document, {
    SelectionSet(node: SelectionSetNode, _key, parent) {
      if (
        parent &&
        !Array.isArray(parent) &&
        (parent as { kind?: string }).kind === Kind.OPERATION_DEFINITION
      ) {
        return undefined;
      }
      const has = node.selections.some(
        (s) => s.kind === Kind.FIELD && s.name.value === '__typename' && !s.alias,
      );
      return has ? undefined : { ...node, selections: [...node.selections, TYPENAME] };
    },
  });
}

const addTypenameTransform: Types.DocumentTransformObject = {
  transform: ({ documents }) =>
    documents.map((file) =>
      file.document ? { ...file, document: addTypename(file.document) } : file,
    ),
};

/**
 * `npm run codegen`: prints the code-first schema, sorted, to schema/schema.graphql, and generates
 * typed documents for the frontend's operations in client/operations (client preset), with their
 * sha256 hashes (client/generated/persisted-documents.json, the trusted documents), `__typename`
 * added to each selection set as Apollo Client and urql add it.
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
      documentTransforms: [addTypenameTransform],
    },
  },
};

export default config;
