// Compiles the dev contracts (contracts/*.sol) with the solc npm package into
// dist/contracts/NAME.json ({ abi, bytecode, sourceHash }). A contract is compiled again only when
// its source changed (the SHA-256 of the source is kept in the output), so a build without a
// change costs one hash. Plain Node: it runs from scripts/ensure.mjs, before TypeScript.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

export function compileContracts(root) {
  const dir = join(root, 'contracts');
  const out = join(root, 'dist', 'contracts');
  mkdirSync(out, { recursive: true });
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.sol')).sort()) {
    const name = file.slice(0, -'.sol'.length);
    const source = readFileSync(join(dir, file), 'utf8');
    const sourceHash = createHash('sha256').update(source).digest('hex');
    const target = join(out, `${name}.json`);
    if (existsSync(target) && JSON.parse(readFileSync(target, 'utf8')).sourceHash === sourceHash) continue;
    const solc = createRequire(join(root, 'package.json'))('solc');
    const input = {
      language: 'Solidity',
      sources: { [file]: { content: source } },
      settings: { optimizer: { enabled: true, runs: 200 }, outputSelection: { '*': { [name]: ['abi', 'evm.bytecode.object'] } } },
    };
    const output = JSON.parse(solc.compile(JSON.stringify(input)));
    const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
    if (errors.length > 0) throw new Error(`solc: ${file}:\n${errors.map((e) => e.formattedMessage).join('\n')}`);
    const contract = output.contracts[file][name];
    const artifact = { contractName: name, abi: contract.abi, bytecode: `0x${contract.evm.bytecode.object}`, sourceHash, compiler: solc.version() };
    writeFileSync(`${target}.tmp`, JSON.stringify(artifact, null, 2) + '\n');
    renameSync(`${target}.tmp`, target);
    console.error(`everbook: compiled ${file} (solc ${solc.version()})`);
  }
}
