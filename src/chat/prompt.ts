import { getEncoding, type Tiktoken } from 'js-tiktoken';
import type { ChatMessage } from '../providers/types.js';
import type { BookRow, CharacterRow } from '../stores/rows.js';
import type { FusedPassage } from './fusion.js';
import type { SessionContext } from './session-context.js';

/**
 * Builds the generation prompt: the character's system prompt, the book, the conversation summary,
 * the passages (with their chunk indexes), the recent messages and the reader's message, fitted to
 * a token budget counted with a real BPE tokenizer (cl100k_base). What gives way first: the oldest
 * recent messages, then the lowest-ranked passages, then the summary; the system prompt and the
 * reader's message always stay.
 */
let encoder: Tiktoken | null = null;
export function countTokens(text: string): number {
  encoder ??= getEncoding('cl100k_base');
  return encoder.encode(text).length;
}

export interface BuiltPrompt {
  messages: ChatMessage[];
  passages: FusedPassage[];
  tokens: number;
}

export function buildPrompt(input: {
  character: CharacterRow;
  book: BookRow;
  context: SessionContext;
  passages: readonly FusedPassage[];
  message: string;
  budget: number;
}): BuiltPrompt {
  const { character, book, context, message, budget } = input;
  let passages = [...input.passages];
  let recent = [...context.messages];
  let summary = context.summary;

  const render = (): ChatMessage[] => {
    const bookLine = `Book: "${book.title}"${book.author ? ` by ${book.author}` : ''}.`;
    const passageText =
      passages.length === 0
        ? 'No passage of the book matched this message. Say so if the book does not tell.'
        : passages
            .map(
              (p) =>
                `[chunk ${p.chunk.chunk_index}${p.chunk.chapter ? `, ${p.chunk.chapter}` : ''}]\n${p.chunk.text}`,
            )
            .join('\n\n');
    const system = [
      character.system_prompt,
      bookLine,
      summary ? `Earlier in this conversation: ${summary}` : '',
      `Passages from the book for this reply:\n\n${passageText}`,
    ]
      .filter(Boolean)
      .join('\n\n');
    return [
      { role: 'system', content: system },
      ...recent.map((m) => ({
        role: m.role === 'assistant' ? ('assistant' as const) : ('user' as const),
        content: m.content,
      })),
      { role: 'user', content: message },
    ];
  };
  const size = (msgs: ChatMessage[]) => msgs.reduce((n, m) => n + countTokens(m.content) + 4, 0);

  let messages = render();
  let tokens = size(messages);
  while (tokens > budget) {
    if (recent.length > 0) recent = recent.slice(1);
    else if (passages.length > 0) passages = passages.slice(0, -1);
    else if (summary) summary = '';
    else break;
    messages = render();
    tokens = size(messages);
  }
  return { messages, passages, tokens };
}
