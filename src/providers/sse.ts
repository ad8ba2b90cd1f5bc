/**
 * Server-sent events from a byte stream: yields each event's `data` (multi-line data joined with
 * `\n`) as soon as the blank line that ends it arrives. Robust to chunk boundaries anywhere, inside
 * a line, a `\r\n` pair or a multi-byte UTF-8 character. Comments and other fields are skipped.
 */
export async function* sseData(
  body: ReadableStream<Uint8Array>,
  onChunk?: () => void,
): AsyncGenerator<string> {
  const reader = body.getReader();
  try {
    yield* events(reader, onChunk);
  } finally {
    // Stopped early (the caller broke off, or an error): let the connection go.
    await reader.cancel().catch(() => undefined);
  }
}

async function* events(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  onChunk?: () => void,
): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8');
  let buffer = '';
  let data: string[] = [];
  const takeLines = function* (final: boolean): Generator<string> {
    for (;;) {
      const nl = buffer.search(/\r\n|\r|\n/);
      if (nl < 0) break;
      // A lone '\r' at the end may be the first half of '\r\n': wait for more.
      if (buffer[nl] === '\r' && nl === buffer.length - 1 && !final) break;
      const width = buffer.startsWith('\r\n', nl) ? 2 : 1;
      yield buffer.slice(0, nl);
      buffer = buffer.slice(nl + width);
    }
  };
  const handle = (line: string): string | undefined => {
    if (line === '') {
      if (data.length === 0) return undefined;
      const event = data.join('\n');
      data = [];
      return event;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    if (field !== 'data') return undefined;
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    data.push(value);
    return undefined;
  };
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    onChunk?.();
    buffer += decoder.decode(read.value, { stream: true });
    for (const line of takeLines(false)) {
      const event = handle(line);
      if (event !== undefined) yield event;
    }
  }
  buffer += decoder.decode();
  for (const line of takeLines(true)) {
    const event = handle(line);
    if (event !== undefined) yield event;
  }
  // A last event without its closing blank line still counts.
  if (buffer !== '') handle(buffer);
  if (data.length > 0) yield data.join('\n');
}
