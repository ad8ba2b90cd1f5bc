import { readFileSync } from 'node:fs';

/** The operations the benchmark sends: the client's own page queries and a few for counting. */
const operation = (name: string) =>
  readFileSync(new URL(`../client/operations/${name}.graphql`, import.meta.url), 'utf8');

export const HELLO = '{ hello }';
export const BOOK_PAGE = operation('BookPage');
export const CHAT_PAGE = operation('ChatPage');

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
