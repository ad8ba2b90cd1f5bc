import { readFileSync } from 'node:fs';

/** The operations the benchmark sends: the client's own page queries and a few for counting. */
const operation = (name: string) =>
  readFileSync(new URL(`../client/operations/${name}.graphql`, import.meta.url), 'utf8');

export const HELLO = '{ hello }';
export const BOOK_PAGE = operation('BookPage');
export const CHAT_PAGE = operation('ChatPage');
/** The chat page as it was before: every citation with its passage's full text. */
export const CHAT_PAGE_WITH_TEXT = CHAT_PAGE.replace(
  /chunkIndex\n/,
  'chunkIndex\n            text\n',
);

export const SEND_MESSAGE = `mutation SendMessage($input: SendMessageInput!) {
  sendMessage(input: $input) {
    replayed
    userMessage { id }
    reply { id content citations { chunkIndex } }
    session { id messageCount }
  }
}`;

/** `n` characters asked by id in one request, each with its book and the book's category. */
export function charactersById(ids: readonly string[]) {
  return {
    query: `query CharactersById(${ids.map((_, i) => `$c${i}: ID!`).join(', ')}) {
${ids.map((_, i) => `  c${i}: character(id: $c${i}) { id name book { id title category { name } } }`).join('\n')}
}`,
    variables: Object.fromEntries(ids.map((id, i) => [`c${i}`, id])),
  };
}

/** A page of `n` books of a category, each with its category and characters. */
export const BOOKS_WITH_CHARACTERS = `query BooksWithCharacters($categoryId: ID!, $first: Int!) {
  books(first: $first, categoryId: $categoryId) {
    edges { node { id title category { id name } characters { id name } } }
  }
}`;

/**
 * The same two pages asked of the peer (PostGraphile 5, Amber preset, simplified inflection):
 * its names for the same tables and columns. The citations are a `JSON` scalar there, whole.
 */
export const PEER_BOOK_PAGE = `query PeerBookPage($id: UUID!) {
  book(rowId: $id) {
    rowId title author description coverUrl processingStatus createdAt
    category { rowId name slug }
    characters(orderBy: [NAME_ASC]) { nodes { rowId name description avatarUrl } }
  }
}`;

export const PEER_CHAT_PAGE = `query PeerChatPage($sessionId: UUID!, $last: Int = 50) {
  chatSession(rowId: $sessionId) {
    rowId title messageCount preview createdAt updatedAt
    character { rowId name description avatarUrl }
    book { rowId title author category { rowId name } }
    messagesBySessionId(last: $last, orderBy: [CREATED_AT_ASC]) {
      edges { cursor node { rowId role content createdAt citations } }
      pageInfo { hasPreviousPage startCursor }
    }
  }
}`;
