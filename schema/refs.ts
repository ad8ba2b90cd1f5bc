/**
 * The object types that other type files point at, declared before any of them is implemented
 * (each type's file calls `implement`), so the type files import refs, not one another.
 */
import type {
  BookRow,
  CategoryRow,
  CharacterRow,
  ChatSessionRow,
  MessageRow,
} from '../src/models.js';
import { builder } from './builder.js';

export const Book = builder.objectRef<BookRow>('Book');
export const Category = builder.objectRef<CategoryRow>('Category');
export const Character = builder.objectRef<CharacterRow>('Character');
export const ChatSession = builder.objectRef<ChatSessionRow>('ChatSession');
export const Message = builder.objectRef<MessageRow>('Message');

/** One message of a session's messages connection, also returned by a chat turn. */
export const MessageEdge = builder.edgeObject({ type: Message, name: 'MessageEdge' });
