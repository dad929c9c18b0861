// The import table of docs/ARCHITECTURE.md is enforced by lint (eslint.config.js, one
// no-restricted-imports rule per folder of src/). These tests run ESLint's Node API over one-line
// snippets, linted as if they were a file of each folder: every import the table forbids fails,
// every import it allows passes, a folder with an index.ts cannot be entered past it, and every
// folder of src/ has a row, so a new folder cannot slip past the table.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ESLint } from 'eslint';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const config = await import(pathToFileURL(join(root, 'eslint.config.js')).href) as {
  importTable: Record<string, readonly string[]>;
  doors: readonly string[];
  engineOnly: readonly string[];
};
const table = config.importTable;
const eslint = new ESLint({ cwd: root });

/** A real file in each folder: the type-aware parser lints a snippet only under a path it knows. */
const fileIn: Record<string, string> = {
  core: 'src/core/money.ts',
  log: 'src/log/segment.ts',
  por: 'src/por/format.ts',
  projections: 'src/projections/deque.ts',
  replica: 'src/replica/guard.ts',
  streams: 'src/streams/hub.ts',
  gateway: 'src/gateway/body.ts',
  custody: 'src/custody/signer.ts',
  server: 'src/server/config.ts',
  cluster: 'src/cluster/topology.ts',
  cli: 'src/cli/main.ts',
};

/** The import-table messages ESLint gives for `import '<source>';` in a file at `filePath`. */
async function importErrors(filePath: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(`import '${source}';\n`, { filePath: join(root, filePath) });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

/** The path that enters a folder from outside: its index.ts, or (for a folder without one) one of its files. */
function entry(folder: string): string {
  if (config.doors.includes(folder)) return `../${folder}/index.js`;
  const file = readdirSync(join(root, 'src', folder)).filter((f) => f.endsWith('.ts')).sort()[0]!;
  return `../${folder}/${file.replace(/\.ts$/, '.js')}`;
}

test('Architecture: every folder of src/ has a row in the import table, and a file to lint it by', () => {
  const folders = readdirSync(join(root, 'src'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  assert.deepEqual(Object.keys(table).sort(), folders);
  assert.deepEqual(Object.keys(fileIn).sort(), folders);
  for (const door of config.doors) assert.ok(readFileSync(join(root, 'src', door, 'index.ts'), 'utf8').length > 0, `src/${door}/index.ts exists`);
});

test('Architecture: the lint rules encode the table written in docs/ARCHITECTURE.md, row for row', () => {
  // The first table headed "| folder | may import |"; each row names its folder as `src/<name>`
  // and lists the folders it may import by name ("nothing" for none).
  const doc = readFileSync(join(root, 'docs', 'ARCHITECTURE.md'), 'utf8');
  const start = doc.indexOf('| folder | may import |');
  assert.ok(start !== -1, 'docs/ARCHITECTURE.md has the import table');
  const end = doc.indexOf('\n\n', start);
  const rows = [...doc.slice(start, end === -1 ? undefined : end).matchAll(/^\| `src\/([a-z]+)` \| ([^|]+) \|/gm)];
  const names = new RegExp(`\\b(${Object.keys(table).join('|')})\\b`, 'g');
  // Order within a row does not matter.
  const documented = Object.fromEntries(rows.map((r) => [r[1]!, [...r[2]!.matchAll(names)].map((m) => m[1]!).sort()]));
  assert.deepEqual(documented, Object.fromEntries(Object.entries(table).map(([folder, may]) => [folder, [...may].sort()])));
});

for (const folder of Object.keys(fileIn)) {
  test(`Architecture: src/${folder}: importing a folder the table forbids fails lint`, async () => {
    const forbidden = Object.keys(table).filter((other) => other !== folder && !table[folder]!.includes(other));
    assert.ok(forbidden.length > 0);
    for (const other of forbidden) {
      const errors = await importErrors(fileIn[folder]!, entry(other));
      assert.equal(errors.length, 1, `src/${folder} importing ${entry(other)}: ${JSON.stringify(errors)}`);
      assert.match(errors[0]!, new RegExp(table[folder]!.length === 0 ? `src/${folder} imports nothing outside itself` : `src/${folder} may not import src/${other}`));
    }
  });

  test(`Architecture: src/${folder}: importing what the table allows passes, through the index.ts where there is one`, async () => {
    for (const other of table[folder]!) {
      assert.deepEqual(await importErrors(fileIn[folder]!, entry(other)), [], `src/${folder} importing ${entry(other)}`);
    }
    assert.deepEqual(await importErrors(fileIn[folder]!, './sibling.js'), [], `src/${folder} importing its own files`);
  });

  const doorsAllowed = table[folder]!.filter((other) => config.doors.includes(other));
  if (doorsAllowed.length > 0) {
    test(`Architecture: src/${folder}: importing an allowed folder past its index.ts fails lint`, async () => {
      for (const other of doorsAllowed) {
        const errors = await importErrors(fileIn[folder]!, `../${other}/inside.js`);
        assert.equal(errors.length, 1, `src/${folder} importing ../${other}/inside.js: ${JSON.stringify(errors)}`);
        assert.match(errors[0]!, new RegExp(`Import src/${other} through its index.ts only`));
      }
    });
  }
}

test('Architecture: src/core: node built-ins fail lint (the core does no I/O); other folders may use them', async () => {
  assert.equal((await importErrors(fileIn.core!, 'node:fs')).length, 1);
  assert.match((await importErrors(fileIn.core!, 'crypto'))[0] ?? '', /does no I\/O/);
  assert.deepEqual(await importErrors(fileIn.log!, 'node:fs'), []);
});

test('Architecture: nothing in src/ imports from outside src/ or from a file at the top of src/', async () => {
  for (const folder of Object.keys(fileIn)) {
    assert.equal((await importErrors(fileIn[folder]!, '../../test/support/model.js')).length, 1, `src/${folder} importing test code`);
    assert.equal((await importErrors(fileIn[folder]!, '../stray.js')).length, 1, `src/${folder} importing src/stray.ts`);
  }
});

test('Architecture: the breach this table was written against stays closed: the replica may not import the gateway', async () => {
  assert.equal((await importErrors('src/replica/submitter.ts', '../gateway/index.js')).length, 1);
  assert.equal((await importErrors('src/replica/replica.ts', '../gateway/port.js')).length, 1);
});

test('Architecture: the streams, the gateway and the server never see the engine: its class and whole-state functions are the replica\'s', async () => {
  for (const file of ['src/streams/hub.ts', 'src/gateway/market.ts', 'src/server/admin.ts']) {
    for (const name of config.engineOnly) {
      const [result] = await eslint.lintText(`import { ${name} } from '../core/index.js';\nexport const x = ${name};\n`, { filePath: join(root, file) });
      assert.equal(result?.messages.filter((m) => m.ruleId === 'no-restricted-imports').length, 1, `${file} importing ${name}`);
    }
    const [allowed] = await eslint.lintText(`import { parseDecimal } from '../core/index.js';\nexport const x = parseDecimal;\n`, { filePath: join(root, file) });
    assert.deepEqual(allowed?.messages.filter((m) => m.ruleId === 'no-restricted-imports'), [], `${file} importing parseDecimal`);
  }
  const [replica] = await eslint.lintText(`import { Engine } from '../core/index.js';\nexport const x = Engine;\n`, { filePath: join(root, 'src/replica/queries.ts') });
  assert.deepEqual(replica?.messages.filter((m) => m.ruleId === 'no-restricted-imports'), [], 'the replica drives the engine');
});
