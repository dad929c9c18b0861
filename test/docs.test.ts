// The docs that are generated from code stay in step with it: every engine rejection code, with
// its message, is in docs/ENGINE.md (regenerate with `npm run docs`).

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { rejectCodes } from '../src/core/index.js';

test('docs: docs/ENGINE.md lists every rejection code with its message', async () => {
  const doc = await readFile(new URL('../../docs/ENGINE.md', import.meta.url), 'utf8');
  for (const r of rejectCodes) assert.ok(doc.includes(`| \`${r.code}\` | ${r.message} |`), `docs/ENGINE.md lacks ${r.code}: run npm run docs`);
});
