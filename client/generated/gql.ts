/* eslint-disable */
import * as types from './graphql.js';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "query BookPage($id: ID!) {\n  book(id: $id) {\n    id\n    title\n    author\n    description\n    coverUrl\n    processingStatus\n    createdAt\n    category {\n      id\n      name\n      slug\n    }\n    characters {\n      id\n      name\n      description\n      avatarUrl\n    }\n  }\n}": typeof types.BookPageDocument,
    "query Catalog($first: Int = 20, $after: String, $categoryId: ID, $status: ProcessingStatus) {\n  viewer {\n    id\n  }\n  categories {\n    id\n    name\n    slug\n  }\n  books(first: $first, after: $after, categoryId: $categoryId, status: $status) {\n    edges {\n      cursor\n      node {\n        id\n        title\n        author\n        coverUrl\n        processingStatus\n        category {\n          id\n          name\n        }\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}": typeof types.CatalogDocument,
    "query ChatPage($sessionId: ID!, $last: Int = 50, $before: String) {\n  chatSession(id: $sessionId) {\n    id\n    title\n    messageCount\n    preview\n    createdAt\n    updatedAt\n    character {\n      id\n      name\n      description\n      avatarUrl\n    }\n    book {\n      id\n      title\n      author\n      category {\n        id\n        name\n      }\n    }\n    messages(last: $last, before: $before) {\n      edges {\n        cursor\n        node {\n          id\n          role\n          content\n          createdAt\n          citations {\n            chunkIndex\n            text\n            score\n          }\n        }\n      }\n      pageInfo {\n        hasPreviousPage\n        startCursor\n      }\n    }\n  }\n}": typeof types.ChatPageDocument,
    "mutation CreateChatSession($characterId: ID!, $title: String) {\n  createChatSession(input: {characterId: $characterId, title: $title}) {\n    id\n    title\n    messageCount\n    createdAt\n    character {\n      id\n      name\n    }\n    book {\n      id\n      title\n    }\n  }\n}": typeof types.CreateChatSessionDocument,
    "query MyChats($first: Int = 20, $after: String) {\n  chatSessions(first: $first, after: $after) {\n    edges {\n      cursor\n      node {\n        id\n        title\n        messageCount\n        preview\n        updatedAt\n        character {\n          id\n          name\n          avatarUrl\n        }\n        book {\n          id\n          title\n        }\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}": typeof types.MyChatsDocument,
};
const documents: Documents = {
    "query BookPage($id: ID!) {\n  book(id: $id) {\n    id\n    title\n    author\n    description\n    coverUrl\n    processingStatus\n    createdAt\n    category {\n      id\n      name\n      slug\n    }\n    characters {\n      id\n      name\n      description\n      avatarUrl\n    }\n  }\n}": types.BookPageDocument,
    "query Catalog($first: Int = 20, $after: String, $categoryId: ID, $status: ProcessingStatus) {\n  viewer {\n    id\n  }\n  categories {\n    id\n    name\n    slug\n  }\n  books(first: $first, after: $after, categoryId: $categoryId, status: $status) {\n    edges {\n      cursor\n      node {\n        id\n        title\n        author\n        coverUrl\n        processingStatus\n        category {\n          id\n          name\n        }\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}": types.CatalogDocument,
    "query ChatPage($sessionId: ID!, $last: Int = 50, $before: String) {\n  chatSession(id: $sessionId) {\n    id\n    title\n    messageCount\n    preview\n    createdAt\n    updatedAt\n    character {\n      id\n      name\n      description\n      avatarUrl\n    }\n    book {\n      id\n      title\n      author\n      category {\n        id\n        name\n      }\n    }\n    messages(last: $last, before: $before) {\n      edges {\n        cursor\n        node {\n          id\n          role\n          content\n          createdAt\n          citations {\n            chunkIndex\n            text\n            score\n          }\n        }\n      }\n      pageInfo {\n        hasPreviousPage\n        startCursor\n      }\n    }\n  }\n}": types.ChatPageDocument,
    "mutation CreateChatSession($characterId: ID!, $title: String) {\n  createChatSession(input: {characterId: $characterId, title: $title}) {\n    id\n    title\n    messageCount\n    createdAt\n    character {\n      id\n      name\n    }\n    book {\n      id\n      title\n    }\n  }\n}": types.CreateChatSessionDocument,
    "query MyChats($first: Int = 20, $after: String) {\n  chatSessions(first: $first, after: $after) {\n    edges {\n      cursor\n      node {\n        id\n        title\n        messageCount\n        preview\n        updatedAt\n        character {\n          id\n          name\n          avatarUrl\n        }\n        book {\n          id\n          title\n        }\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}": types.MyChatsDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query BookPage($id: ID!) {\n  book(id: $id) {\n    id\n    title\n    author\n    description\n    coverUrl\n    processingStatus\n    createdAt\n    category {\n      id\n      name\n      slug\n    }\n    characters {\n      id\n      name\n      description\n      avatarUrl\n    }\n  }\n}"): (typeof documents)["query BookPage($id: ID!) {\n  book(id: $id) {\n    id\n    title\n    author\n    description\n    coverUrl\n    processingStatus\n    createdAt\n    category {\n      id\n      name\n      slug\n    }\n    characters {\n      id\n      name\n      description\n      avatarUrl\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query Catalog($first: Int = 20, $after: String, $categoryId: ID, $status: ProcessingStatus) {\n  viewer {\n    id\n  }\n  categories {\n    id\n    name\n    slug\n  }\n  books(first: $first, after: $after, categoryId: $categoryId, status: $status) {\n    edges {\n      cursor\n      node {\n        id\n        title\n        author\n        coverUrl\n        processingStatus\n        category {\n          id\n          name\n        }\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}"): (typeof documents)["query Catalog($first: Int = 20, $after: String, $categoryId: ID, $status: ProcessingStatus) {\n  viewer {\n    id\n  }\n  categories {\n    id\n    name\n    slug\n  }\n  books(first: $first, after: $after, categoryId: $categoryId, status: $status) {\n    edges {\n      cursor\n      node {\n        id\n        title\n        author\n        coverUrl\n        processingStatus\n        category {\n          id\n          name\n        }\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query ChatPage($sessionId: ID!, $last: Int = 50, $before: String) {\n  chatSession(id: $sessionId) {\n    id\n    title\n    messageCount\n    preview\n    createdAt\n    updatedAt\n    character {\n      id\n      name\n      description\n      avatarUrl\n    }\n    book {\n      id\n      title\n      author\n      category {\n        id\n        name\n      }\n    }\n    messages(last: $last, before: $before) {\n      edges {\n        cursor\n        node {\n          id\n          role\n          content\n          createdAt\n          citations {\n            chunkIndex\n            text\n            score\n          }\n        }\n      }\n      pageInfo {\n        hasPreviousPage\n        startCursor\n      }\n    }\n  }\n}"): (typeof documents)["query ChatPage($sessionId: ID!, $last: Int = 50, $before: String) {\n  chatSession(id: $sessionId) {\n    id\n    title\n    messageCount\n    preview\n    createdAt\n    updatedAt\n    character {\n      id\n      name\n      description\n      avatarUrl\n    }\n    book {\n      id\n      title\n      author\n      category {\n        id\n        name\n      }\n    }\n    messages(last: $last, before: $before) {\n      edges {\n        cursor\n        node {\n          id\n          role\n          content\n          createdAt\n          citations {\n            chunkIndex\n            text\n            score\n          }\n        }\n      }\n      pageInfo {\n        hasPreviousPage\n        startCursor\n      }\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation CreateChatSession($characterId: ID!, $title: String) {\n  createChatSession(input: {characterId: $characterId, title: $title}) {\n    id\n    title\n    messageCount\n    createdAt\n    character {\n      id\n      name\n    }\n    book {\n      id\n      title\n    }\n  }\n}"): (typeof documents)["mutation CreateChatSession($characterId: ID!, $title: String) {\n  createChatSession(input: {characterId: $characterId, title: $title}) {\n    id\n    title\n    messageCount\n    createdAt\n    character {\n      id\n      name\n    }\n    book {\n      id\n      title\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query MyChats($first: Int = 20, $after: String) {\n  chatSessions(first: $first, after: $after) {\n    edges {\n      cursor\n      node {\n        id\n        title\n        messageCount\n        preview\n        updatedAt\n        character {\n          id\n          name\n          avatarUrl\n        }\n        book {\n          id\n          title\n        }\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}"): (typeof documents)["query MyChats($first: Int = 20, $after: String) {\n  chatSessions(first: $first, after: $after) {\n    edges {\n      cursor\n      node {\n        id\n        title\n        messageCount\n        preview\n        updatedAt\n        character {\n          id\n          name\n          avatarUrl\n        }\n        book {\n          id\n          title\n        }\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;