// Lint rules: typescript-eslint's strict type-checked set, plus the import table of
// docs/ARCHITECTURE.md: which folder of src/ may import which, and that a folder with an
// index.ts is entered through it only. src/core imports nothing outside itself and does no I/O.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The import table: the folders each folder of src/ may import. Everything else in src/ is
 * forbidden to it; docs/ARCHITECTURE.md shows the same table, and test/architecture.test.ts
 * shows each rule failing on a forbidden import.
 */
export const importTable = {
  core: [],
  log: [],
  // Proof of reserves: the tree, the report store and the verifier, free of the rest so a user can take the verifier alone.
  por: [],
  projections: ['core'],
  replica: ['core', 'log', 'projections'],
  streams: ['core', 'replica', 'projections'],
  gateway: ['core', 'replica', 'projections', 'streams', 'por'],
  // Custody on a chain: reads the engine through the replica's queries, submits through its port.
  custody: ['core', 'replica'],
  // The top: each process is wired here, from every folder below.
  server: ['core', 'log', 'projections', 'replica', 'streams', 'gateway', 'custody', 'cluster', 'por'],
  cluster: ['core', 'log', 'replica', 'gateway', 'custody'],
  cli: ['server', 'cluster', 'por'],
};
/** Folders with a door: from outside, only their index.ts may be imported. */
export const doors = ['core', 'log', 'projections', 'replica', 'streams', 'gateway', 'custody', 'por'];

/** no-restricted-imports patterns for a file in src/<folder>. */
function importPatterns(folder) {
  if (importTable[folder].length === 0) {
    const patterns = [{ group: ['../*', '../**'], message: `src/${folder} imports nothing outside itself.` }];
    if (folder === 'core') patterns.push({ group: ['node:*', 'fs', 'path', 'crypto', 'os', 'net', 'http'], message: 'src/core does no I/O.' });
    return patterns;
  }
  // Files at the top of src/ belong to no folder, so to no row of the table.
  const patterns = [{ group: ['../*.js', '../*.ts'], message: 'src/ holds folders only; import a folder through the table.' }];
  for (const other of Object.keys(importTable)) {
    if (other === folder) continue;
    if (!importTable[folder].includes(other)) {
      patterns.push({ group: [`../${other}`, `../${other}/**`], message: `src/${folder} may not import src/${other} (the import table in docs/ARCHITECTURE.md).` });
    } else if (doors.includes(other)) {
      patterns.push({ group: [`../${other}/**`, `!../${other}/index.js`], message: `Import src/${other} through its index.ts only.` });
    }
  }
  patterns.push({ group: ['../../**'], message: 'src imports nothing outside src.' });
  return patterns;
}

/**
 * What the core exports for the replica alone: above the replica (gateway, server) state is read
 * through the replica's queries, so the engine class and its whole-state functions stay below.
 */
export const engineOnly = ['Engine', 'restore', 'snapshot'];
const enginePaths = (folder) => (['streams', 'gateway', 'custody', 'server'].includes(folder)
  ? [{ name: '../core/index.js', importNames: engineOnly, message: `src/${folder} reads through the replica's queries, never the engine.` }]
  : []);

/** One config object per folder. */
const importConfigs = [
  ...Object.keys(importTable).map((folder) => ({
    files: [`src/${folder}/**/*.ts`],
    rules: { 'no-restricted-imports': ['error', { paths: enginePaths(folder), patterns: importPatterns(folder) }] },
  })),
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/*.mjs', 'scripts/**', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unnecessary-condition': ['error', { allowConstantLoopConditions: true }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-restricted-globals': ['error', 'parseFloat'],
      eqeqeq: 'error',
    },
  },
  ...importConfigs,
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-properties': ['error',
        { object: 'Math', property: 'random', message: 'src/core is deterministic.' },
        { object: 'Date', property: 'now', message: 'time comes from the command.' },
      ],
      'no-restricted-syntax': ['error',
        { selector: "NewExpression[callee.name='Date']", message: 'time comes from the command.' },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
    },
  },
);
