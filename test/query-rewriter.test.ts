import { describe, expect, it } from 'vitest';
import { fallbackRewrite } from '../src/chat/query-rewriter.js';

describe('the offline query rewrite', () => {
  const recent = [
    { role: 'user', content: 'Who is Idris Calloway?' },
    { role: 'assistant', content: 'A mapmaker.' },
  ];

  it('gives a message that points back the names of the previous one as keywords', () => {
    const { keyword, narrative } = fallbackRewrite('Why did he come to Salt Hollow?', recent);
    expect(keyword.split(' ')).toEqual(expect.arrayContaining(['idris', 'calloway', 'salt']));
    expect(narrative).toBe('Who is Idris Calloway? Why did he come to Salt Hollow?');
  });

  it('keeps a message that names its own subject to its own words', () => {
    const { keyword } = fallbackRewrite('Why did Mira come to Salt Hollow?', recent);
    expect(keyword.split(' ')).not.toContain('idris');
    expect(keyword.split(' ')).toContain('mira');
  });
});
