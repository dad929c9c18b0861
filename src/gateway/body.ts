// Request bodies are kept as the raw text the client signed, and parsed only after that text
// has been authenticated. Parsing is JSON.parse plus a walk that refuses the keys that could
// poison a prototype if a body were ever merged into another object.

import { ApiErrors, Failure, type ApiError } from './errors.js';

/** The raw text of a JSON request body, exactly as received. */
export class RawBody {
  constructor(readonly text: string) {}
}

const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

function forbidden(key: string): ApiError {
  return { ...ApiErrors.jsonInvalid, msg: `JSON syntax error: key "${key}" is not allowed` };
}

/** The parsed body, or 50000 (empty) / 50002 (not JSON, or a forbidden key anywhere in it). */
export function parseBody(text: string): unknown {
  if (text.trim() === '') return new Failure(ApiErrors.bodyEmpty);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return new Failure(ApiErrors.jsonInvalid);
  }
  // An explicit stack rather than recursion: nesting depth is bounded only by the body limit.
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
