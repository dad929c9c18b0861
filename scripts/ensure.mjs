// Makes a fresh clone runnable: installs the locked npm packages when they are missing or older
// than the lockfile, then compiles the TypeScript (incrementally) and the dev contracts
// (contracts/*.sol, with solc, only when a source changed). With --etcd (the tests and the
// cluster benchmark) it also makes sure etcd is there: Debian's etcd-server package, installed
// when missing if we are root, else a clear message. Plain Node, no dependencies, because it
// runs before anything is installed.
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileContracts } from './compile-contracts.mjs';
import { ensureEtcd } from './ensure-etcd.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  console.error(`everbook needs Node.js 20.19 or newer; this is ${process.version}.`);
  process.exit(1);
}

const installed = join(root, 'node_modules', '.package-lock.json');
const lock = join(root, 'package-lock.json');
if (!existsSync(installed) || statSync(installed).mtimeMs < statSync(lock).mtimeMs) {
  console.error('everbook: installing npm packages (npm ci)...');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}
run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json']);
compileContracts(root);

if (process.argv.includes('--etcd')) ensureEtcd();
