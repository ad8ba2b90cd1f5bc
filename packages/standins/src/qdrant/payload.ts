/**
 * Payload paths and payload selection. Keys follow Qdrant's JSON path syntax: dotted keys into
 * nested objects (`a.b`), `[]` to project every array element, `[n]` for one element, and
 * double-quoted segments for keys containing dots. Stepping into an array with a plain key looks
 * into each object element, as Qdrant does.
 */
import { formatError } from './errors.js';

export type Payload = Record<string, unknown>;

type Segment = { key: string } | { index: number } | { all: true };

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parsePath(path: string): Segment[] {
  const out: Segment[] = [];
  let i = 0;
  const fail = () => formatError(`Invalid json path: ${path}`);
  while (i < path.length) {
    const ch = path[i];
    if (ch === '.') {
      if (i === 0 || i === path.length - 1) throw fail();
      i++;
      continue;
    }
    if (ch === '[') {
      const end = path.indexOf(']', i);
      if (end < 0) throw fail();
      const inner = path.slice(i + 1, end);
      if (inner === '') out.push({ all: true });
      else if (/^\d+$/.test(inner)) out.push({ index: Number(inner) });
      else throw fail();
      i = end + 1;
      continue;
    }
    if (ch === '"') {
      const end = path.indexOf('"', i + 1);
      if (end < 0) throw fail();
      out.push({ key: path.slice(i + 1, end) });
      i = end + 1;
      continue;
    }
    let j = i;
    while (j < path.length && path[j] !== '.' && path[j] !== '[') j++;
    out.push({ key: path.slice(i, j) });
    i = j;
  }
  if (out.length === 0) throw fail();
  return out;
}

function step(values: unknown[], seg: Segment): unknown[] {
  const out: unknown[] = [];
  const keyOf = (v: unknown, key: string) => {
    if (isObject(v) && Object.hasOwn(v, key)) out.push(v[key]);
  };
  for (const v of values) {
    if ('key' in seg) {
      if (Array.isArray(v)) for (const el of v) keyOf(el, seg.key);
      else keyOf(v, seg.key);
    } else if ('index' in seg) {
      if (Array.isArray(v) && seg.index < v.length) out.push(v[seg.index]);
    } else if (Array.isArray(v)) {
      out.push(...v);
    }
  }
  return out;
}

/** Raw values found at a path (arrays at the end are not flattened). */
export function valuesAt(payload: unknown, path: string | Segment[]): unknown[] {
  const segs = typeof path === 'string' ? parsePath(path) : path;
  let values: unknown[] = [payload];
  for (const seg of segs) values = step(values, seg);
  return values;
}

/** Values at a path with terminal arrays flattened: what match/range conditions compare. */
export function flatValuesAt(payload: unknown, path: string | Segment[]): unknown[] {
  const out: unknown[] = [];
  for (const v of valuesAt(payload, path)) {
    if (Array.isArray(v)) out.push(...v);
    else out.push(v);
  }
  return out;
}

function keysOnly(path: string): string[] | undefined {
  const segs = parsePath(path);
  const keys: string[] = [];
  for (const s of segs) {
    if (!('key' in s)) return undefined;
    keys.push(s.key);
  }
  return keys;
}

/** Copies the value at a path into `target`, building the nested objects on the way. */
function copyPath(source: Payload, target: Payload, path: string): void {
  const keys = keysOnly(path);
  if (!keys) {
    const top = parsePath(path)[0];
    if (top && 'key' in top && Object.hasOwn(source, top.key)) target[top.key] = source[top.key];
    return;
  }
  let src: unknown = source;
  for (const k of keys) {
    if (!isObject(src) || !Object.hasOwn(src, k)) return;
    src = src[k];
  }
  let dst = target;
  keys.forEach((k, i) => {
    if (i === keys.length - 1) dst[k] = structuredClone(src);
    else {
      if (!isObject(dst[k])) dst[k] = {};
      dst = dst[k] as Payload;
    }
  });
}

/** Removes the value at a dotted path; returns whether something was removed. */
export function deletePath(payload: Payload, path: string): void {
  const keys = keysOnly(path);
  if (!keys) return;
  let obj: unknown = payload;
  for (const k of keys.slice(0, -1)) {
    if (!isObject(obj)) return;
    obj = obj[k];
  }
  const last = keys[keys.length - 1];
  if (isObject(obj) && last !== undefined) delete obj[last];
}

/** `set_payload` with `key`: merges `values` into the object found (or created) at the path. */
export function mergeAtPath(payload: Payload, path: string | undefined, values: Payload): void {
  if (path === undefined) {
    Object.assign(payload, structuredClone(values));
    return;
  }
  const keys = keysOnly(path);
  if (!keys) throw formatError(`Invalid json path: ${path}`);
  let obj = payload;
  for (const k of keys) {
    if (!isObject(obj[k])) obj[k] = {};
    obj = obj[k] as Payload;
  }
  Object.assign(obj, structuredClone(values));
}

export type PayloadSelector =
  | { kind: 'none' }
  | { kind: 'all' }
  | { kind: 'include'; paths: string[] }
  | { kind: 'exclude'; paths: string[] };

const stringList = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((s) => typeof s === 'string');

/** Parses `with_payload` (bool, list of keys, `{include}` or `{exclude}`). */
export function parsePayloadSelector(raw: unknown, fallback: boolean): PayloadSelector {
  if (raw === undefined || raw === null) return { kind: fallback ? 'all' : 'none' };
  if (raw === true) return { kind: 'all' };
  if (raw === false) return { kind: 'none' };
  if (stringList(raw)) return { kind: 'include', paths: raw };
  if (isObject(raw) && stringList(raw.include)) return { kind: 'include', paths: raw.include };
  if (isObject(raw) && stringList(raw.exclude)) return { kind: 'exclude', paths: raw.exclude };
  throw formatError('data did not match any variant of untagged enum WithPayloadInterface');
}

/** The payload to return for a point, or undefined when none was asked for. */
export function selectPayload(payload: Payload, sel: PayloadSelector): Payload | undefined {
  switch (sel.kind) {
    case 'none':
      return undefined;
    case 'all':
      return payload;
    case 'include': {
      const out: Payload = {};
      for (const p of sel.paths) copyPath(payload, out, p);
      return out;
    }
    case 'exclude': {
      const out = structuredClone(payload);
      for (const p of sel.paths) deletePath(out, p);
      return out;
    }
  }
}
