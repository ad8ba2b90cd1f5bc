import * as r from '../resolvers/branches.js';
import { builder } from './builder.js';
import { SendMessagePayload } from './chat-turn.js';
import { ChatSession } from './refs.js';

const CLIENT_MESSAGE_ID =
  'Must be a UUID, made by the client once per request: a retry with the same one returns what was saved';

const RegenerateReplyInput = builder.inputType('RegenerateReplyInput', {
  fields: (t) => ({
    messageId: t.id({ required: true, description: 'A reply of the character' }),
    clientMessageId: t.id({ required: false, description: CLIENT_MESSAGE_ID }),
  }),
});

const EditMessageInput = builder.inputType('EditMessageInput', {
  fields: (t) => ({
    messageId: t.id({ required: true, description: "One of the reader's messages" }),
    content: t.string({
      required: true,
      description: 'The new text (at most 4,000 characters by default)',
    }),
    clientMessageId: t.id({ required: false, description: CLIENT_MESSAGE_ID }),
  }),
});

const SelectBranchInput = builder.inputType('SelectBranchInput', {
  fields: (t) => ({
    messageId: t.id({
      required: true,
      description: 'Any version of a message (Message.versions): its branch is shown',
    }),
  }),
});

builder.mutationFields((t) => ({
  regenerateReply: t.withAuth({ signedIn: true }).field({
    type: SendMessagePayload,
    nullable: true,
    description:
      'A new reply to the reader message a reply answers, on a new branch the session then shows; the old reply stays as another version (Message.versions). SESSION_BUSY while a message of the session is being answered',
    args: { input: t.arg({ type: RegenerateReplyInput, required: true }) },
    resolve: r.regenerateReply,
  }),
  editMessage: t.withAuth({ signedIn: true }).field({
    type: SendMessagePayload,
    nullable: true,
    description:
      "Rewrites one of the reader's messages and answers it, on a new branch the session then shows; the old message and what followed it stay on their branch. SESSION_BUSY while a message of the session is being answered",
    args: { input: t.arg({ type: EditMessageInput, required: true }) },
    resolve: r.editMessage,
  }),
  selectBranch: t.withAuth({ signedIn: true }).field({
    type: ChatSession,
    nullable: true,
    description:
      'Shows the branch that holds a version of a message: ChatSession.messages, messageCount and preview follow it',
    args: { input: t.arg({ type: SelectBranchInput, required: true }) },
    resolve: r.selectBranch,
  }),
}));
