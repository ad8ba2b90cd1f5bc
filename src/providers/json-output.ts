import type { ZodType } from 'zod';
import { LlmOutputError } from './types.js';

/**
 * Turns a model's text answer into a validated value: drops `<think>` blocks, then tries the whole
 * text, then a ```json fenced block, then the outermost `{...}` span, and validates what parses with
 * the schema. Anything else is an LlmOutputError naming what was wrong.
 */
export function parseJsonOutput<T>(text: string, schema: ZodType<T>): T {
  const value = extractJson(text);
  if (value === undefined) {
    throw new LlmOutputError(`model answer is not JSON: ${JSON.stringify(text.slice(0, 120))}`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 5)
      .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
      .join('; ');
    throw new LlmOutputError(`model JSON does not match the expected shape: ${issues}`, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}

/** The first JSON value found in `text`, or undefined. */
export function extractJson(text: string): unknown {
  const cleaned = text.replace(/<think>[\s\S]*?<\/think>/gi, '').trim();
  const candidates = [cleaned];
  const fence = /```(?:json|JSON)?\s*\n?([\s\S]*?)```/.exec(cleaned);
  if (fence?.[1] !== undefined) candidates.push(fence[1].trim());
  const open = cleaned.search(/[{[]/);
  const close = Math.max(cleaned.lastIndexOf('}'), cleaned.lastIndexOf(']'));
  if (open >= 0 && close > open) candidates.push(cleaned.slice(open, close + 1));
  for (const candidate of candidates) {
    if (candidate === '') continue;
    try {
      return JSON.parse(candidate);
    } catch {
      // Try the next way of finding the JSON.
    }
  }
  return undefined;
}
