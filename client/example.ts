/**
 * The typed client, by example: the frontend's operations (client/operations, typed by
 * `npm run codegen`) used with a standard GraphQL client (graphql-request) against a running
 * gateway, and the two streams (a turn's reply, a book's processing progress) over SSE.
 *
 *   npm start                          # in another terminal: prints a development token
 *   GATEWAY_TOKEN=<token> npx tsx client/example.ts
 *
 * Options (environment): GATEWAY_URL (default http://localhost:4000/graphql), GATEWAY_TOKEN (a
 * Supabase access token), TRUSTED_DOCUMENTS=true to send document ids instead of query texts (for
 * a gateway that runs with TRUSTED_DOCUMENTS=true), PROCESS_BOOK=<book id> to (re)process one of
 * your books and follow its progress.
 */
import { pathToFileURL } from 'node:url';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { GraphQLClient, type RequestMiddleware } from 'graphql-request';
import {
  BookPageDocument,
  BookProcessingDocument,
  CatalogDocument,
  ChatPageDocument,
  CreateChatSessionDocument,
  ProcessBookDocument,
  SendMessageDocument,
  SendMessageStreamDocument,
} from './generated/graphql.js';

export interface ExampleOptions {
  url: string;
  token: string;
  /** Send `documentId` (the codegen hash) instead of the query text. */
  trusted?: boolean;
  /** A book of yours to (re)process, following its progress. */
  processBookId?: string;
  log?: (line: string) => void;
}

export interface ExampleSummary {
  bookId: string;
  characterName: string;
  sessionId: string;
  reply: string;
  streamedReply: string;
  messageCount: number;
  progress: string[];
}

type AnyDocument = TypedDocumentNode<unknown, Record<string, unknown>>;
const ALL = [
  BookPageDocument,
  BookProcessingDocument,
  CatalogDocument,
  ChatPageDocument,
  CreateChatSessionDocument,
  ProcessBookDocument,
  SendMessageDocument,
  SendMessageStreamDocument,
] as unknown as AnyDocument[];

/** The hash codegen gave a document (client preset, persisted documents). */
function hashOf(document: AnyDocument): string {
  const hash = (document as { __meta__?: { hash?: string } }).__meta__?.hash;
  if (!hash) throw new Error('the document has no hash: run npm run codegen');
  return hash;
}

function operationName(document: AnyDocument): string {
  for (const d of document.definitions) {
    if (d.kind === 'OperationDefinition' && d.name) return d.name.value;
  }
  throw new Error('an operation without a name');
}

const HASH_BY_NAME = new Map(ALL.map((d) => [operationName(d), hashOf(d)]));

/** Replaces the query text with its trusted document id. */
const trustedDocuments: RequestMiddleware = (request) => {
  const body = JSON.parse(String(request.body)) as {
    operationName?: string;
    variables?: unknown;
  };
  const documentId = body.operationName ? HASH_BY_NAME.get(body.operationName) : undefined;
  if (!documentId) throw new Error(`no trusted document for ${body.operationName}`);
  return {
    ...request,
    body: JSON.stringify({
      documentId,
      operationName: body.operationName,
      variables: body.variables,
    }),
  };
};

/** A GraphQL-over-SSE subscription (the gateway's `text/event-stream` answers), typed. */
async function* subscribe<TResult, TVariables extends Record<string, unknown>>(
  options: ExampleOptions,
  document: TypedDocumentNode<TResult, TVariables>,
  variables: TVariables,
): AsyncGenerator<TResult> {
  const doc = document as unknown as AnyDocument;
  const res = await fetch(options.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'text/event-stream',
      authorization: `Bearer ${options.token}`,
    },
    body: JSON.stringify(
      options.trusted
        ? { documentId: hashOf(doc), operationName: operationName(doc), variables }
        : { query: print(doc), operationName: operationName(doc), variables },
    ),
  });
  if (!res.ok || !res.body) throw new Error(`subscription failed: HTTP ${res.status}`);
  const decoder = new TextDecoder();
  let buffer = '';
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf('\n\n');
      const event = /^event: ?(.*)$/m.exec(block)?.[1]?.trim();
      if (event === 'complete') {
        await reader.cancel();
        return;
      }
      const data = block
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).trimStart())
        .join('\n');
      if (!data) continue;
      const payload = JSON.parse(data) as { data?: TResult; errors?: { message: string }[] };
      if (payload.errors?.length) {
        throw new Error(payload.errors.map((e) => e.message).join('; '));
      }
      if (payload.data) yield payload.data;
    }
  }
}

export async function runExample(options: ExampleOptions): Promise<ExampleSummary> {
  const log = options.log ?? ((line: string) => console.log(line));
  const client = new GraphQLClient(options.url, {
    headers: { authorization: `Bearer ${options.token}` },
    ...(options.trusted ? { requestMiddleware: trustedDocuments } : {}),
  });

  // The catalog page: typed result, typed variables.
  const catalog = await client.request(CatalogDocument, { first: 10, status: 'COMPLETED' });
  log(`signed in as ${catalog.viewer.id}; ${catalog.books.edges.length} completed book(s)`);
  const book = catalog.books.edges[0]?.node;
  if (!book) throw new Error('no completed book to talk about: upload and process one first');

  // The book page, then a chat with its first character.
  const page = await client.request(BookPageDocument, { id: book.id });
  const characters = page.book?.characters ?? [];
  const character = characters[0];
  if (!character) throw new Error(`"${book.title}" has no characters`);
  log(`"${book.title}": ${characters.map((c) => c.name).join(', ')}`);
  const { createChatSession: session } = await client.request(CreateChatSessionDocument, {
    characterId: character.id,
    title: `Talking with ${character.name}`,
  });
  if (!session) throw new Error('the chat session was not created');
  log(`chat session ${session.id} with ${session.character.name}`);

  // One turn, answered whole.
  const turn = await client.request(SendMessageDocument, {
    sessionId: session.id,
    content: 'Who are you, and where are we?',
    clientMessageId: crypto.randomUUID(),
  });
  const reply = turn.sendMessage?.reply;
  if (!reply) throw new Error('the message was not answered');
  log(`${character.name}: ${reply.content}`);
  log(`  (grounded in ${reply.citations.length} passage(s))`);

  // One turn, streamed: deltas as the model writes them, then the saved turn.
  let streamed = '';
  let saved = '';
  for await (const event of subscribe(options, SendMessageStreamDocument, {
    sessionId: session.id,
    content: 'What happened next?',
    clientMessageId: crypto.randomUUID(),
  })) {
    const e = event.sendMessageStream;
    if (e.__typename === 'MessageDelta') streamed += e.delta;
    else if (e.__typename === 'TurnCompleted') saved = e.payload.reply.content;
  }
  log(`${character.name} (streamed): ${saved}`);

  // The chat page, newest messages last.
  const chat = await client.request(ChatPageDocument, { sessionId: session.id, last: 10 });
  const messageCount = chat.chatSession?.messageCount ?? 0;
  log(`the session now has ${messageCount} messages`);

  // Optionally, (re)process one of your books and follow its progress.
  const progress: string[] = [];
  if (options.processBookId) {
    await client.request(ProcessBookDocument, { bookId: options.processBookId });
    for await (const event of subscribe(options, BookProcessingDocument, {
      bookId: options.processBookId,
    })) {
      const p = event.bookProcessing;
      progress.push(p.stage);
      log(`processing: ${p.stage} ${Math.round(p.progress * 100)}% (${p.status})`);
    }
  }

  return {
    bookId: book.id,
    characterName: character.name,
    sessionId: session.id,
    reply: reply.content,
    streamedReply: streamed,
    messageCount,
    progress,
  };
}

const isMain = process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const token = process.env.GATEWAY_TOKEN;
  if (!token) {
    console.error('Set GATEWAY_TOKEN (npm start prints a development token).');
    process.exit(2);
  }
  runExample({
    url: process.env.GATEWAY_URL ?? 'http://localhost:4000/graphql',
    token,
    trusted: /^(1|true|yes)$/i.test(process.env.TRUSTED_DOCUMENTS ?? ''),
    ...(process.env.PROCESS_BOOK ? { processBookId: process.env.PROCESS_BOOK } : {}),
  }).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
