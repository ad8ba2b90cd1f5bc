/**
 * What kind of answer a question asks for, from its wording: a reason (`why`), a count or measure
 * (`how-many`), a time, a place, a person, someone's words, a manner, or other. The offline reply
 * (`extractive-reply.ts`) asks it, and so does the evaluation's answer-cue feature
 * (`eval/rerank-features.ts`).
 */
/** Words that say why: an answer to a `why` question holds one (a purpose or an inability may). */
export const CAUSAL_CONNECTIVE = /\b(because|so that|therefore|in order to|for fear|the reason)\b/i;

export type QuestionKind = 'who' | 'where' | 'when' | 'why' | 'how-many' | 'how' | 'said' | 'other';

export function questionKind(question: string): QuestionKind {
  const q = question.toLowerCase();
  if (/\bhow (many|much|long|far|deep|old|high|tall)\b/.test(q)) return 'how-many';
  if (/\bwhy\b|\bfor what reason\b|\bwhat made\b/.test(q)) return 'why';
  if (/\bwhen\b|\bwhat (time|year|day|month|season)\b|\bhow long ago\b/.test(q)) return 'when';
  if (/\bwhere\b|\bwhat place\b/.test(q)) return 'where';
  if (/\bwho\b|\bwhose\b|\bwhom\b|\bname of\b|\b(his|her|its|their) name\b|\bcalled\b/.test(q))
    return 'who';
  if (/\bwhat (did|does) ((the|his|her) )?\w+ (say|tell|reply|write)\b/.test(q)) return 'said';
  if (/\bhow\b/.test(q)) return 'how';
  return 'other';
}
