// Regenerates the generated tables in docs/ from the code that defines them (the engine's
// rejection codes in docs/ENGINE.md, the gateway's error tables in docs/API.md). Tests fail when the docs drift; run `npm run docs` to fix them.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { errorTableMarkdown, rejectTableMarkdown, wsErrorTableMarkdown, wsCloseTableMarkdown } = await import(join(root, 'dist', 'src', 'gateway', 'errors.js'));

function replaceTable(text, header, table) {
  const start = text.indexOf(header);
  if (start === -1) throw new Error(`no table starting with "${header}"`);
  let end = text.indexOf('\n\n', start);
  if (end === -1) end = text.length;
  return text.slice(0, start) + table + text.slice(end);
}

const { rejectCodes } = await import(join(root, 'dist', 'src', 'core', 'index.js'));
export const engineCodesTable = ['| code | meaning |', '|---|---|', ...rejectCodes.map((r) => `| \`${r.code}\` | ${r.message} |`)].join('\n');
const enginePath = join(root, 'docs', 'ENGINE.md');
writeFileSync(enginePath, replaceTable(readFileSync(enginePath, 'utf8'), '| code | meaning |', engineCodesTable));

const path = join(root, 'docs', 'API.md');
let doc = readFileSync(path, 'utf8');
doc = replaceTable(doc, '| code | HTTP | name | message |', errorTableMarkdown());
doc = replaceTable(doc, '| engine code | OKX code |', rejectTableMarkdown());
doc = replaceTable(doc, '| WS code | name | message |', wsErrorTableMarkdown());
doc = replaceTable(doc, '| close code | name | reason sent |', wsCloseTableMarkdown());
writeFileSync(path, doc);
console.log('docs/ENGINE.md and docs/API.md tables regenerated');
