import { readFileSync } from 'node:fs';
import { printSchema } from 'graphql';
import { describe, expect, it } from 'vitest';
import { sortedSchema } from '../schema/index.js';

describe('the committed schema', () => {
  it('schema/schema.graphql is what `npm run codegen` prints from the code-first schema', async () => {
    // What codegen's schema-ast plugin prints with `sort: true` and no directives.
    const printed = printSchema(sortedSchema);
    const committed = readFileSync(new URL('../schema/schema.graphql', import.meta.url), 'utf8');
    expect(committed, 'schema/schema.graphql is stale: run npm run codegen').toBe(printed);
  });

  it('keeps the names the frontend uses', () => {
    const query = sortedSchema.getQueryType()!.getFields();
    for (const name of [
      'viewer',
      'categories',
      'book',
      'books',
      'character',
      'chatSession',
      'chatSessions',
    ]) {
      expect(query[name], name).toBeDefined();
    }
    expect(sortedSchema.getMutationType()!.getFields().createChatSession).toBeDefined();
    for (const t of [
      'BookConnection',
      'ChatSessionConnection',
      'MessageConnection',
      'Citation',
      'ProcessingStatus',
      'MessageRole',
    ]) {
      expect(sortedSchema.getType(t), t).toBeDefined();
    }
    const character = sortedSchema.getType('Character') as { getFields(): Record<string, unknown> };
    expect(character.getFields().systemPrompt).toBeUndefined();
  });
});
