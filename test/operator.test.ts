// What an operator meets first, tried as one would: `npm start` and its printed hints, stopping
// it with a signal, the metrics it prints and the docs name, and the npm scripts a user can run
// on a fresh clone. Real processes, started and stopped by PID.

import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/server/config.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A process's children, from /proc (none when it is gone). */
async function childPids(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${String(pid)}/task/${String(pid)}/children`, 'utf8').catch(() => '');
  return text.trim().split(' ').filter((p) => p !== '').map(Number);
}

/** Running: neither gone nor a zombie (an exited child that nobody reaped yet). */
async function running(pid: number): Promise<boolean> {
  try {
    return (await readFile(`/proc/${String(pid)}/stat`, 'utf8')).split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function sh(command: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', command], { cwd: root, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

test('Operator: npm start prints commands that work for its data dir, serves /metrics, and stops on SIGTERM to npm', { timeout: 180_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'everbook-operator-'));
  const launcher = spawn('npm', ['start', '--', '--data-dir', dataDir, '--port', '0', '--log-level', 'warn'], {
    cwd: root, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  launcher.stderr.on('data', (d: Buffer) => { output += d.toString(); });
  const launcherExited = new Promise<void>((resolve) => { launcher.once('exit', () => { resolve(); }); });
  let nodePid = 0;
  try {
    const banner = await new Promise<{ url: string; hint: string }>((resolve, reject) => {
      void launcherExited.then(() => { reject(new Error(`npm start exited before it was ready:\n${output}`)); });
      let url = '';
      createInterface({ input: launcher.stdout }).on('line', (line) => {
        output += line + '\n';
        url = /OKX v5 REST at (http:\/\/\S+)\/api\/v5/.exec(line)?.[1] ?? url;
        const hint = /operator CLI: (.+)$/.exec(line)?.[1];
        if (hint !== undefined) resolve({ url, hint });
      });
    });
    nodePid = (JSON.parse(await readFile(join(dataDir, 'admin.json'), 'utf8')) as { pid: number }).pid;

    // The printed operator command reaches this node, though its data dir is not the default.
    assert.match(banner.hint, /^npm run everbook -- status --data-dir /);
    const status = await sh(banner.hint);
    assert.equal(status.code, 0, `${banner.hint} failed:\n${status.stderr}`);
    assert.match(status.stdout, /"state": "serving"/);

    // Every metric the operations guide tells operators to watch is served.
    const metrics = await fetch(`${banner.url}/metrics`);
    assert.equal(metrics.status, 200);
    const text = await metrics.text();
    const documented = new Set((await readFile(join(root, 'docs', 'OPERATIONS.md'), 'utf8')).match(/\beverbook_[a-z_]+/g) ?? []);
    assert.ok(documented.size >= 4, 'the operations guide names the metrics to watch');
    // The etcd log's counters are a cluster node's (test/security-cluster.test.ts checks them there).
    for (const name of documented) {
      if (!name.startsWith('everbook_etcd_')) assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), `${name} is documented but not served`);
    }

    // Among the node's children (the dev chain's anvil too): the WebSocket fan-out process.
    const fanoutPids: number[] = [];
    for (const pid of await childPids(nodePid)) if ((await readFile(`/proc/${String(pid)}/cmdline`, 'utf8')).includes('ws-fanout-process')) fanoutPids.push(pid);
    assert.equal(fanoutPids.length, 1, 'the node runs its fan-out process');

    // SIGTERM to npm (what a process supervisor sends) stops the node itself and frees its port.
    launcher.kill('SIGTERM');
    await launcherExited;
    assert.equal(alive(nodePid), false, 'the node outlived its launcher');
    // The fan-out process exits as its channel to the node closes: wait for that, bounded.
    const deadline = Date.now() + 10_000;
    while (await running(fanoutPids[0]!) && Date.now() < deadline) await new Promise((resolve) => { setTimeout(resolve, 20); });
    assert.equal(await running(fanoutPids[0]!), false, 'the fan-out process outlived the node');
    await assert.rejects(fetch(`${banner.url}/api/v5/public/time`), 'the port is still answering');
  } finally {
    if (launcher.exitCode === null && launcher.signalCode === null) launcher.kill('SIGKILL');
    if (nodePid !== 0 && alive(nodePid)) {
      // A node killed outright cannot stop its children (the dev chain's anvil, the fan-out
      // process): stop them too, by their PIDs, before the node.
      for (const pid of await childPids(nodePid)) if (alive(pid)) process.kill(pid, 'SIGKILL');
      process.kill(nodePid, 'SIGKILL');
    }
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('Operator: every npm script that runs compiled code builds it first, so a fresh clone can run any of them', async () => {
  const scripts = (JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const needsBuild = Object.entries(scripts).filter(([name, command]) => !name.startsWith('pre') && /\bdist\/|\beslint\b/.test(command));
  assert.ok(needsBuild.length >= 5);
  for (const [name, command] of needsBuild) {
    const builds = (scripts[`pre${name}`] ?? '').includes('scripts/ensure.mjs') || command.startsWith('node scripts/ensure.mjs');
    assert.ok(builds, `npm run ${name} runs compiled code without building it first`);
  }
});

test('Operator: --dev (printed secrets, test deposits, dev bootstrap) is off unless asked for; npm start asks for it', async () => {
  assert.equal(loadConfig([], {}).dev, false);
  assert.equal(loadConfig(['--dev', 'true'], {}).dev, true);
  assert.equal(loadConfig(['--dev', 'true', '--dev', 'false'], {}).dev, false, 'the last flag wins, so `npm start -- --dev false` turns it off');
  const scripts = (JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  assert.match(scripts.start ?? '', /--dev true/);
});
