import type { Viewer } from '../auth.js';
import { badInput, parseId } from '../errors.js';
import type { Loaders } from '../loaders.js';
import type { BookRow, CharacterRow, ChatSessionRow, MessageRow } from '../models.js';
import type { ChatStore } from '../stores/chat-store.js';

/** The ids of one `nodes` call: UUIDs, at most PAGE_SIZE_MAX of them; BAD_USER_INPUT otherwise. */
export function checkNodeIds(ids: readonly string[], max: number): string[] {
  if (ids.length > max) throw badInput(`ids may hold at most ${max} ids`, 'ids');
  return ids.map((id, i) => parseId(id, ids.length === 1 ? 'id' : `ids[${i}]`));
}

export type NodeValue =
  | { type: 'Book'; row: BookRow }
  | { type: 'Character'; row: CharacterRow }
  | { type: 'ChatSession'; row: ChatSessionRow }
  | { type: 'Message'; row: MessageRow };

/**
 * Objects by their raw UUID, whatever their type: each id is looked up with every type's loader at
 * once (books, characters, sessions, messages; one batch per type for all ids), and the first
 * found in that order answers. Ownership holds as for the typed fields: another reader's session,
 * or a message of one, is null, exactly like an id that does not exist.
 */
export class NodeService {
  constructor(
    private readonly deps: { maxIds: number; chatStore: ChatStore },
    private readonly loaders: Pick<Loaders, 'book' | 'character' | 'session'>,
  ) {}

  async nodes(viewer: Viewer, rawIds: readonly string[]): Promise<(NodeValue | null)[]> {
    const ids = checkNodeIds(rawIds, this.deps.maxIds);
    const [books, characters, sessions, messages] = await Promise.all([
      this.loaders.book.loadMany(ids),
      this.loaders.character.loadMany(ids),
      this.loaders.session.loadMany(ids),
      this.deps.chatStore.messagesByIds([...new Set(ids)]),
    ]);
    const messageById = new Map(messages.map((m) => [m.id, m]));
    // The sessions of the messages found, for their owner.
    const owners = await this.loaders.session.loadMany([
      ...new Set(messages.map((m) => m.session_id)),
    ]);
    const ownSessions = new Set(
      owners.flatMap((s) => (s && !(s instanceof Error) && s.user_id === viewer.id ? [s.id] : [])),
    );
    return ids.map((id, i): NodeValue | null => {
      const book = ok(books[i]);
      if (book) return { type: 'Book', row: book };
      const character = ok(characters[i]);
      if (character) return { type: 'Character', row: character };
      const session = ok(sessions[i]);
      if (session)
        return session.user_id === viewer.id ? { type: 'ChatSession', row: session } : null;
      const message = messageById.get(id);
      if (message && ownSessions.has(message.session_id)) return { type: 'Message', row: message };
      return null;
    });
  }
}

function ok<T>(value: T | null | Error | undefined): T | null {
  if (value instanceof Error) throw value;
  return value ?? null;
}
