// Request bodies are kept as the raw text the client signed, and parsed only after that text
// has been authenticated. Parsing is JSON.parse plus one scan of the text that reads every key:
// it refuses a key given twice in one object (JSON.parse keeps the last, so a body signed and
// logged by a proxy as px=1 could be executed as px=2) and the keys that could poison a
// prototype if a body were ever merged into another object.

import { ApiErrors, Failure, withParam, type ApiError } from './errors.js';

/** The raw text of a JSON request body, exactly as received. */
export class RawBody {
  constructor(readonly text: string) {}
}

const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

function forbidden(key: string): ApiError {
  return { ...ApiErrors.jsonInvalid, msg: `JSON syntax error: key "${key}" is not allowed` };
}

/** What one pass over a body's keys found: the first key given twice in one object, and whether any key is forbidden. */
interface KeyScan { readonly twice: string | undefined; readonly anyForbidden: boolean }

/**
 * One pass over the text of a body JSON.parse accepted (bounded by the body limit), reading
 * every object key as JSON.parse reads it: a stack holds each open object's keys. Stops at the
 * first key given twice.
 */
function scanKeys(text: string): KeyScan {
  const open: (Set<string> | undefined)[] = [];
  let expectKey = false;
  let anyForbidden = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let end = i + 1;
      let escaped = false;
      while (end < text.length && text[end] !== '"') {
        if (text[end] === '\\') { escaped = true; end += 2; } else end += 1;
      }
      const keys = open[open.length - 1];
      if (expectKey && keys !== undefined) {
        // A key without escapes is its own text; only one with escapes needs decoding.
        const key = escaped ? JSON.parse(text.slice(i, end + 1)) as string : text.slice(i + 1, end);
        if (keys.has(key)) return { twice: key, anyForbidden };
        keys.add(key);
        if (FORBIDDEN_KEYS.has(key)) anyForbidden = true;
        expectKey = false;
      }
      i = end;
    } else if (c === '{') {
      open.push(new Set());
      expectKey = true;
    } else if (c === '[') {
      open.push(undefined);
      expectKey = false;
    } else if (c === '}' || c === ']') {
      open.pop();
      expectKey = false;
    } else if (c === ',') {
      expectKey = open[open.length - 1] !== undefined;
    }
  }
  return { twice: undefined, anyForbidden };
}

/** The first key that appears twice in one object of a text JSON.parse accepted, if any. */
export function duplicateKey(text: string): string | undefined {
  return scanKeys(text).twice;
}

/**
 * The parsed body, or 50000 (empty) / 50002 (not JSON, or a forbidden key anywhere in it) /
 * 51000 (a key twice in one object, named in the message).
 */
export function parseBody(text: string): unknown {
  if (text.trim() === '') return new Failure(ApiErrors.bodyEmpty);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return new Failure(ApiErrors.jsonInvalid);
  }
  const scan = scanKeys(text);
  if (scan.twice !== undefined) return new Failure(withParam(ApiErrors.paramError, scan.twice));
  // The scan has read every key, so a body without a forbidden one (nearly all) is done; one
  // with a forbidden key is walked to name the key, as before. An explicit stack rather than
  // recursion: nesting depth is bounded only by the body limit.
  if (!scan.anyForbidden) return value;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node !== 'object' || node === null) continue;
    if (Array.isArray(node)) {
      for (const item of node as unknown[]) stack.push(item);
      continue;
    }
    for (const [key, child] of Object.entries(node)) {
      if (FORBIDDEN_KEYS.has(key)) return new Failure(forbidden(key));
      stack.push(child);
    }
  }
  return value;
}
