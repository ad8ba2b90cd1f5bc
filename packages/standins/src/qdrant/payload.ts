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

/** Marks an array element a projection left out, so merged projections keep positions. */
const HOLE = Symbol('hole');

/** The part of `value` that `segs` reach, with the objects and arrays on the way kept. */
function project(value: unknown, segs: Segment[]): unknown {
  const [seg, ...rest] = segs;
  if (!seg) return structuredClone(value);
  if ('key' in seg) {
    if (Array.isArray(value)) return elements(value, (el) => project(el, segs));
    if (!isObject(value) || !Object.hasOwn(value, seg.key)) return undefined;
    const inner = project(value[seg.key], rest);
    return inner === undefined ? undefined : { [seg.key]: inner };
  }
  if (!Array.isArray(value)) return undefined;
  if ('index' in seg) {
    if (seg.index >= value.length) return undefined;
    const inner = project(value[seg.index], rest);
    return inner === undefined ? undefined : [inner];
  }
  return elements(value, (el) => project(el, rest));
}

function elements(list: unknown[], f: (el: unknown) => unknown): unknown[] | undefined {
  const out = list.map((el) => f(el) ?? HOLE);
  return out.some((el) => el !== HOLE) ? out : undefined;
}

/** Merges a projection into `into`: objects key by key, arrays position by position. */
function mergeProjection(into: unknown, add: unknown): unknown {
  if (into === undefined || into === HOLE) return add;
  if (add === HOLE) return into;
  if (isObject(into) && isObject(add)) {
    for (const [k, v] of Object.entries(add)) into[k] = mergeProjection(into[k], v);
    return into;
  }
  if (Array.isArray(into) && Array.isArray(add)) {
    add.forEach((v, i) => {
      into[i] = mergeProjection(into[i], v);
    });
    return into;
  }
  return add;
}

function withoutHoles(value: unknown): unknown {
  if (Array.isArray(value)) return value.filter((el) => el !== HOLE).map(withoutHoles);
  if (isObject(value)) {
    for (const [k, v] of Object.entries(value)) value[k] = withoutHoles(v);
  }
  return value;
}

function removeAt(value: unknown, segs: Segment[]): void {
  const [seg, ...rest] = segs;
  if (!seg) return;
  if ('key' in seg) {
    if (Array.isArray(value)) for (const el of value) removeAt(el, segs);
    else if (isObject(value) && Object.hasOwn(value, seg.key)) {
      if (rest.length === 0) delete value[seg.key];
      else removeAt(value[seg.key], rest);
    }
    return;
  }
  if (!Array.isArray(value)) return;
  if ('index' in seg) {
    if (seg.index >= value.length) return;
    if (rest.length === 0) value.splice(seg.index, 1);
    else removeAt(value[seg.index], rest);
    return;
  }
  if (rest.length === 0) value.length = 0;
  else for (const el of value) removeAt(el, rest);
}

/** Removes what a path reaches (through arrays, as `delete_payload` and `exclude` do). */
export function deletePath(payload: Payload, path: string): void {
  removeAt(payload, parsePath(path));
}

/**
 * `set_payload` with `key`, as Qdrant sets a value at a JSON path: keys that are missing (or
 * not objects) become objects, `[n]` names one existing element and `[]` every element; where
 * the path ends, `values` is merged into the object found, or replaces what is not an object.
 * An index past the end of an array, or into something that is not an array, sets nothing.
 */
export function mergeAtPath(payload: Payload, path: string | undefined, values: Payload): void {
  if (path === undefined) {
    Object.assign(payload, structuredClone(values));
    return;
  }
  const segs = parsePath(path);
  const setIn = (slot: unknown, rest: Segment[]): unknown => {
    const [seg, ...tail] = rest;
    if (!seg)
      return isObject(slot)
        ? Object.assign(slot, structuredClone(values))
        : structuredClone(values);
    if ('key' in seg) {
      const obj = isObject(slot) ? slot : {};
      obj[seg.key] = setIn(obj[seg.key], tail);
      return obj;
    }
    if (!Array.isArray(slot)) return slot;
    if ('index' in seg) {
      if (seg.index < slot.length) slot[seg.index] = setIn(slot[seg.index], tail);
    } else
      slot.forEach((el, i) => {
        slot[i] = setIn(el, tail);
      });
    return slot;
  };
  setIn(payload, segs);
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
      let out: unknown = {};
      for (const p of sel.paths) out = mergeProjection(out, project(payload, parsePath(p)) ?? HOLE);
      return withoutHoles(out) as Payload;
    }
    case 'exclude': {
      const out = structuredClone(payload);
      for (const p of sel.paths) deletePath(out, p);
      return out;
    }
  }
}
