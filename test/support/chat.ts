import { expect } from 'vitest';
import type { TestGateway } from './gateway.js';

/** Opens a chat session with `characterId` for the reader of `token`, through GraphQL. */
export async function createChatSession(
  gw: TestGateway,
  token: string,
  characterId: string,
): Promise<string> {
  const res = await gw.gql(
    'mutation ($input: CreateChatSessionInput!) { createChatSession(input: $input) { id } }',
    { input: { characterId } },
    { token },
  );
  expect(res.body.errors).toBeUndefined();
  return (res.body.data?.createChatSession as { id: string }).id;
}
