// Gateway and key security, one test per hardening fix: what an API key may do and from where,
// failed-authentication and bucket limits, duplicate JSON keys, slow bodies and the connection
// cap over real loopback sockets, and, against a real node process, private files at rest,
// no secret in the journal or snapshots, and the CLI's create, list and revoke.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import { createGateway, Failure, normalizeIp, sign, type GatewayOptions } from '../src/gateway/index.js';
import type { LogCommand } from '../src/replica/index.js';
import { TokenBuckets } from '../src/gateway/rate-limit.js';
import { authorize } from '../src/gateway/auth.js';
import { KeyDerivation, verifiedPassphrasesCachedMax } from '../src/gateway/key-secrets.js';
import { ConfigError, loadConfig } from '../src/server/config.js';
import { addTrader, venue, type KeyOptions, type MemoryPort, type Trader } from './support/memory-port.js';
import { okx, type Credentials } from './support/okx-client.js';
import { kill, startServer, type ServerProcess } from './support/server-process.js';

const run = promisify(execFile);
const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');

/** A signed request through inject, from a chosen client address. */
async function request(
  app: ReturnType<typeof createGateway>, port: MemoryPort, trader: Trader, method: 'GET' | 'POST', url: string,
  options: { body?: string; from?: string; secret?: string } = {},
): Promise<{ status: number; code: string; msg: string }> {
  const timestamp = new Date(port.now()).toISOString();
  const response = await app.inject({
    method, url, remoteAddress: options.from ?? '127.0.0.1',
    headers: {
      'content-type': 'application/json', 'ok-access-key': trader.apiKey, 'ok-access-passphrase': trader.passphrase,
      'ok-access-timestamp': timestamp, 'ok-access-sign': sign(options.secret ?? trader.secret, timestamp, method, url, options.body ?? ''),
    },
    ...(options.body !== undefined && { payload: options.body }),
  });
  const body = JSON.parse(response.body) as { code: string; msg: string };
  return { status: response.statusCode, code: body.code, msg: body.msg };
}

const order = (instId = 'BTC-USDT'): string => JSON.stringify({ instId, tdMode: 'cash', side: 'buy', ordType: 'limit', px: '100', sz: '0.01' });
const withdrawal = JSON.stringify({ ccy: 'USDT', amt: '10', dest: '4', toAddr: `0x${'1'.repeat(40)}` });

function setup(options: GatewayOptions = { rateLimits: false }, key: KeyOptions = {}) {
  const v = venue();
  const carol = addTrader(v.port, 'carol', { USDT: '1000000000' }, {}, key);
  return { ...v, carol, app: createGateway(v.port, options) };
}

describe('API key permissions and IP allowlist', () => {
  test('a read_only key reads, but placing an order or withdrawing gets 50120 and submits nothing', async () => {
    const { app, port, carol } = setup({ rateLimits: false }, { perms: ['read_only'] });
    assert.equal((await request(app, port, carol, 'GET', '/api/v5/account/balance')).code, '0');
    const before = port.submissions;
    const placed = await request(app, port, carol, 'POST', '/api/v5/trade/order', { body: order() });
    assert.deepEqual([placed.status, placed.code, placed.msg], [401, '50120', 'API key doesn\'t have permission.']);
    assert.equal((await request(app, port, carol, 'POST', '/api/v5/trade/cancel-order', { body: JSON.stringify({ instId: 'BTC-USDT', ordId: '1' }) })).code, '50120');
    assert.equal((await request(app, port, carol, 'POST', '/api/v5/asset/withdrawal', { body: withdrawal })).code, '50120');
    assert.equal(port.submissions, before, 'nothing reached the log');
  });

  test('a trade key trades but may not withdraw; a withdraw key may', async () => {
    const { app, port, carol, alice } = setup({ rateLimits: false }, { perms: ['read_only', 'trade'] });
    assert.equal((await request(app, port, carol, 'POST', '/api/v5/trade/order', { body: order() })).code, '0');
    assert.equal((await request(app, port, carol, 'POST', '/api/v5/asset/withdrawal', { body: withdrawal })).code, '50120');
    assert.equal((await request(app, port, alice, 'POST', '/api/v5/asset/withdrawal', { body: withdrawal })).code, '0', 'alice holds withdraw');
  });

  test('a key with an IP allowlist answers only its addresses; others get 50110 naming the address', async () => {
    const { app, port, carol } = setup({ rateLimits: false }, { ips: ['10.1.1.1', '::1'] });
    assert.equal((await request(app, port, carol, 'GET', '/api/v5/account/balance', { from: '10.1.1.1' })).code, '0');
    assert.equal((await request(app, port, carol, 'GET', '/api/v5/account/balance', { from: '::ffff:10.1.1.1' })).code, '0', 'IPv4 seen through IPv6');
    assert.equal((await request(app, port, carol, 'GET', '/api/v5/account/balance', { from: '::1' })).code, '0');
    const refused = await request(app, port, carol, 'POST', '/api/v5/trade/order', { body: order(), from: '10.1.1.2' });
    assert.deepEqual([refused.status, refused.code], [401, '50110']);
    assert.match(refused.msg, /10\.1\.1\.2/);
  });
});

describe('rate limits', () => {
  test('failed authentication is limited per IP (429/50011, even a good key from there); another IP is not', async () => {
    const { app, port, alice, bob } = setup({ rateLimits: true, failedAuthLimit: { requests: 5, windowMs: 60_000 } });
    const guesser = '10.9.9.9';
    for (let i = 0; i < 5; i++) {
      assert.equal((await request(app, port, alice, 'GET', '/api/v5/account/balance', { from: guesser, secret: `guess-${i}` })).code, '50113');
    }
    const limited = await request(app, port, alice, 'GET', '/api/v5/account/balance', { from: guesser, secret: 'guess-5' });
    assert.deepEqual([limited.status, limited.code], [429, '50011']);
    assert.equal((await request(app, port, alice, 'GET', '/api/v5/account/balance', { from: guesser })).code, '50011', 'the IP is held back, not the key');
    assert.equal((await request(app, port, bob, 'GET', '/api/v5/account/balance', { from: '10.9.9.10' })).code, '0');
    assert.equal((await request(app, port, alice, 'GET', '/api/v5/account/balance', { from: '10.9.9.10' })).code, '0');
    port.clockMs += 12_000;
    assert.equal((await request(app, port, alice, 'GET', '/api/v5/account/balance', { from: guesser })).code, '0', 'refilled after a fifth of the window');
  });

  test('orders for instruments that do not exist get 51001 and create no rate-limit bucket', async () => {
    const registry = new Registry();
    const { app, port, alice } = setup({ rateLimits: true, registry });
    assert.equal((await request(app, port, alice, 'POST', '/api/v5/trade/order', { body: order() })).code, '0');
    const buckets = async (): Promise<number> => (await registry.getSingleMetric('everbook_gateway_rate_limit_buckets')!.get()).values[0]!.value;
    const held = await buckets();
    for (let i = 0; i < 50; i++) {
      port.clockMs += 100;
      const r = await request(app, port, alice, 'POST', '/api/v5/trade/order', { body: order(`MADE-UP-${i}`) });
      assert.equal(r.code, '1');
    }
    assert.equal(await buckets(), held);
  });

  test('buckets are evicted least recently used: a busy client keeps its bucket while churned keys go', () => {
    const buckets = new TokenBuckets(4);
    const limit = { requests: 2, windowMs: 60_000 };
    const now = 1_000;
    assert.ok(buckets.take([{ key: 'busy', cost: 2 }], limit, now), 'the busy client spends its whole budget');
    for (let i = 0; i < 20; i++) {
      assert.ok(buckets.take([{ key: `churn-${i}`, cost: 1 }], limit, now));
      // Still empty: had its bucket been evicted, a fresh full one would let this through.
      assert.equal(buckets.take([{ key: 'busy', cost: 1 }], limit, now), false, `after ${i + 1} churned keys`);
    }
    assert.equal(buckets.size, 4);
  });
});

describe('request bodies', () => {
  test('a key given twice in one object is refused with 51000 naming it, before the handler', async () => {
    const { app, port, alice } = setup();
    const before = port.submissions;
    const twice = '{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"limit","px":"1","sz":"0.01","px":"100"}';
    const r = await request(app, port, alice, 'POST', '/api/v5/trade/order', { body: twice });
    assert.deepEqual([r.code, r.msg], ['51000', 'Parameter px error']);
    const escaped = '[{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"limit","px":"1","sz":"0.01","p\\u0078":"100"}]';
    assert.equal((await request(app, port, alice, 'POST', '/api/v5/trade/batch-orders', { body: escaped })).code, '51000', 'the same key spelled with an escape');
    assert.equal(port.submissions, before);
    const nested = '[{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"limit","px":"100","sz":"0.01"},{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"limit","px":"100","sz":"0.01"}]';
    assert.equal((await request(app, port, alice, 'POST', '/api/v5/trade/batch-orders', { body: nested })).code, '0', 'the same key in two objects is fine');
  });
});

describe('key records', () => {
  test('a key record from before secrets were derived (secret and passphrase in clear) replays, keeps neither, and verifies nothing', async () => {
    const { port, app, alice } = setup();
    const old = { type: 'CreateApiKey', userId: alice.userId, apiKey: 'old-key', secret: 'OLD-SECRET', passphrase: 'old-pass', label: 'old' };
    assert.deepEqual(port.applyNow([old as unknown as LogCommand]), [{ ok: true }]);
    assert.ok(!JSON.stringify(port.keys.toJSON()).includes('OLD-SECRET') && !JSON.stringify(port.keys.toJSON()).includes('old-pass'));
    const r = await request(app, port, { userId: alice.userId, apiKey: 'old-key', secret: 'OLD-SECRET', passphrase: 'old-pass' }, 'GET', '/api/v5/account/balance');
    assert.equal(r.code, '50105');
  });

  test('bounds: a body timeout at or above the handler timeout is refused at start', () => {
    const { port } = venue();
    assert.throws(() => createGateway(port, { bodyTimeoutMs: 8_000 }), /bodyTimeoutMs \(8000\) must be positive and below handlerTimeoutMs \(8000\)/);
    assert.throws(() => loadConfig(['--body-timeout-ms', '9000'], {}), (e: unknown) => e instanceof ConfigError && /below the handler timeout/.test(e.message));
    assert.equal(loadConfig(['--body-timeout-ms', '2000'], {}).bodyTimeoutMs, 2_000);
  });

  test('a cluster node must be given the shared key-derivation file', () => {
    const etcd = ['--log', 'etcd', '--cluster-token', 'x'.repeat(16)];
    assert.throws(() => loadConfig(etcd, {}), (e: unknown) => e instanceof ConfigError && /--key-secret-file/.test(e.message));
    assert.equal(loadConfig([...etcd, '--key-secret-file', '/shared/key-secret'], {}).keySecretFile, '/shared/key-secret');
  });
});

/** Opens a loopback socket; resolves once the server has closed it, with everything it sent. */
function trickle(address: AddressInfo, head: string, bytesMax: number): { socket: Socket; closed: Promise<string> } {
  const socket = connect(address.port, address.address);
  let received = '';
  let sent = 0;
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => { received += d; });
  socket.on('error', () => undefined);
  let timer: NodeJS.Timeout | undefined;
  socket.on('connect', () => {
    socket.write(head);
    // Then one byte every 20 ms keeps the socket busy (no idle timeout saves the server), up to bytesMax.
    timer = setInterval(() => {
      if (sent < bytesMax && socket.writable) {
        socket.write(' ');
        sent += 1;
      }
    }, 20);
  });
  const closed = new Promise<string>((resolve) => {
    socket.on('close', () => {
      clearInterval(timer);
      resolve(received);
    });
  });
  return { socket, closed };
}

describe('slow bodies and connections (real sockets on loopback)', () => {
  test('50 sockets trickling a 5,000-byte body all get 408 and are closed, with nothing submitted', { timeout: 60_000 }, async () => {
    const { port } = venue();
    const app = createGateway(port, { rateLimits: false, bodyTimeoutMs: 300 });
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const address = app.server.address() as AddressInfo;
      const head = 'POST /api/v5/trade/order HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"instId":"BTC-USDT"';
      const before = port.submissions;
      const sockets = Array.from({ length: 50 }, () => trickle(address, head, 5_000));
      const answers = await Promise.all(sockets.map((s) => s.closed));
      for (const answer of answers) {
        assert.match(answer, /^HTTP\/1\.1 408 /);
        assert.match(answer, /connection: close/i);
        assert.equal((JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { code: string }).code, '408');
      }
      assert.equal(port.submissions, before, 'nothing reached the log');
    } finally {
      await app.close();
    }
  });

  test('connections beyond maxConnections are dropped at once; those held are served', { timeout: 60_000 }, async () => {
    const { port } = venue();
    const app = createGateway(port, { rateLimits: false, maxConnections: 5 });
    let accepted = 0;
    let dropped = 0;
    const acceptedFive = new Promise<void>((resolve) => {
      app.server.on('connection', () => { accepted += 1; if (accepted === 5) resolve(); });
    });
    app.server.on('drop', () => { dropped += 1; });
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const address = app.server.address() as AddressInfo;
      // Half a request line: each holds a connection without finishing anything.
      const held = Array.from({ length: 5 }, () => trickle(address, 'GET /api/v5/public/ti', 0));
      await acceptedFive;
      const extra = Array.from({ length: 10 }, () => trickle(address, 'GET /api/v5/public/time HTTP/1.1\r\nHost: x\r\n\r\n', 0));
      const answers = await Promise.all(extra.map((s) => s.closed));
      assert.deepEqual(answers, Array.from({ length: 10 }, () => ''), 'dropped without an answer');
      assert.equal(dropped, 10);
      assert.equal(accepted, 5);
      for (const h of held) h.socket.destroy();
      await Promise.all(held.map((h) => h.closed));
    } finally {
      await app.close();
    }
  });
});

/** Every path under a directory, with its stat. */
async function walk(dir: string): Promise<{ path: string; mode: number; dir: boolean }[]> {
  const out: { path: string; mode: number; dir: boolean }[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const s = await stat(path);
    out.push({ path, mode: s.mode & 0o777, dir: entry.isDirectory() });
    if (entry.isDirectory()) out.push(...await walk(path));
  }
  return out;
}

async function everbook(dataDir: string, ...args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run(process.execPath, [cli, ...args, '--data-dir', dataDir], { timeout: 30_000 });
  return JSON.parse(stdout) as Record<string, unknown>;
}

describe('a real node: keys at rest, CLI, revoke', () => {
  let dataDir: string;
  let server: ServerProcess;

  before(async () => {
    dataDir = join(mkdtempSync(join(tmpdir(), 'everbook-security-')), 'data');
    // A data directory left open by an older version: the node must tighten it.
    await mkdir(join(dataDir, 'snapshots'), { recursive: true, mode: 0o755 });
    await chmod(dataDir, 0o755);
    await writeFile(join(dataDir, 'snapshots', 'stale.txt'), 'left by an older version\n', { mode: 0o644 });
    server = await startServer(dataDir);
  });

  after(async () => {
    await kill(server, 'SIGTERM');
    await rm(dirname(dataDir), { recursive: true, force: true });
  });

  test('key create prints apiKey, secret, password (as ccxt.okx takes them); the key trades; list shows no secret', async () => {
    const created = await everbook(dataDir, 'key', 'create', '--user', '1', '--perm', 'read_only', '--label', 'reader');
    assert.deepEqual(Object.keys(created).sort(), ['apiKey', 'ips', 'label', 'password', 'perm', 'secret', 'userId']);
    assert.equal(created.perm, 'read_only');
    const creds: Credentials = { apiKey: String(created.apiKey), secretKey: String(created.secret), passphrase: String(created.password) };
    assert.equal((await okx(server.url, 'GET', '/api/v5/account/balance', undefined, creds)).code, '0');
    assert.equal((await okx(server.url, 'POST', '/api/v5/trade/order', JSON.parse(order()), creds)).code, '50120');
    const listed = await everbook(dataDir, 'key', 'list', '--user', '1');
    const text = JSON.stringify(listed);
    assert.ok(text.includes(creds.apiKey));
    assert.ok(!text.includes(creds.secretKey) && !text.includes(creds.passphrase), 'no secret in the listing');
    assert.ok(!/passphraseHash/.test(text));
  });

  test('a revoked key is refused (50111) as soon as the revoke is acknowledged', async () => {
    const created = await everbook(dataDir, 'key', 'create', '--user', '2');
    const creds: Credentials = { apiKey: String(created.apiKey), secretKey: String(created.secret), passphrase: String(created.password) };
    assert.equal((await okx(server.url, 'GET', '/api/v5/account/balance', undefined, creds)).code, '0');
    assert.deepEqual(await everbook(dataDir, 'key', 'revoke', '--key', creds.apiKey), { apiKey: creds.apiKey, revoked: true });
    assert.equal((await okx(server.url, 'GET', '/api/v5/account/balance', undefined, creds)).code, '50111');
    const listed = await everbook(dataDir, 'key', 'list');
    assert.ok(!JSON.stringify(listed).includes(creds.apiKey));
  });

  test('the journal and snapshots hold no API secret and no passphrase', async () => {
    const created = await everbook(dataDir, 'key', 'create', '--user', '1', '--passphrase', 'Correct-Horse-42');
    await everbook(dataDir, 'snapshot');
    const secrets = [String(created.secret), String(created.password), ...server.traders.flatMap((t) => [t.secretKey, t.passphrase])];
    const entries = await walk(dataDir);
    assert.ok(entries.some((e) => e.path.includes('journal') && !e.dir), 'the journal has segments');
    assert.ok(entries.some((e) => e.path.includes('snapshots/') && !e.dir && !e.path.endsWith('stale.txt')), 'a snapshot was written');
    for (const e of entries) {
      if (e.dir || e.path.endsWith('key-secret')) continue;
      const bytes = await readFile(e.path);
      for (const s of secrets) {
        assert.equal(bytes.includes(s), false, `${e.path} holds a secret or passphrase`);
        assert.equal(bytes.includes(Buffer.from(s).toString('base64')), false, `${e.path} holds a secret in base64`);
      }
    }
  });

  test('files at rest are private: the data directory and its folders 0700, every file 0600 (an older one tightened)', async () => {
    await everbook(dataDir, 'snapshot');
    const entries = await walk(dataDir);
    for (const name of ['journal', 'snapshots', 'admin.json', 'admin.token', 'key-secret', join('snapshots', 'stale.txt')]) {
      assert.ok(entries.some((e) => e.path === join(dataDir, name)), `${name} is there`);
    }
    assert.equal((await stat(dataDir)).mode & 0o777, 0o700, dataDir);
    for (const e of entries) assert.equal(e.mode.toString(8), e.dir ? '700' : '600', e.path);
  });
});

test('IP allowlist: an address matches whichever way it was spelled at creation (case, leading zeros, IPv4-mapped)', () => {
  assert.equal(normalizeIp('2001:0DB8:0000::0001'), '2001:db8::1');
  assert.equal(normalizeIp('::FFFF:10.0.0.1'), '10.0.0.1');
  assert.equal(normalizeIp('10.0.0.1'), '10.0.0.1');
  const key = { apiKey: 'k', userId: 1, passphraseHash: '', label: '', perms: ['read_only', 'trade'] as const, ips: ['2001:0DB8::0001', '::ffff:10.0.0.1'].map(normalizeIp), createdTs: 0 };
  assert.equal(authorize(key, '2001:db8::1', 'trade'), undefined, 'Node reports the canonical form');
  assert.equal(authorize(key, '::ffff:10.0.0.1', 'trade'), undefined, 'an IPv4 client on a dual-stack socket');
  assert.ok(authorize(key, '2001:db8::2', 'trade') instanceof Failure);
});

test('Passphrases: a match is remembered only for the stored hash it matched; a wrong passphrase, or one checked against another stored hash, is refused however often a good one was seen', () => {
  const derivation = new KeyDerivation(KeyDerivation.generate());
  const stored = derivation.passphraseHash('key-a', 'Correct-Horse-42');
  for (let i = 0; i < 3; i++) {
    assert.equal(derivation.passphraseMatches('key-a', 'Correct-Horse-42', stored), true, `check ${i}`);
    assert.equal(derivation.passphraseMatches('key-a', 'Correct-Horse-43', stored), false);
    assert.equal(derivation.passphraseMatches('key-b', 'Correct-Horse-42', stored), false, 'the same passphrase on another key');
  }
  // The key re-created with another passphrase: its new hash no longer vouches for the old one.
  const storedAgain = derivation.passphraseHash('key-a', 'Battery-Staple-7');
  assert.equal(derivation.passphraseMatches('key-a', 'Correct-Horse-42', storedAgain), false);
  assert.equal(derivation.passphraseMatches('key-a', 'Battery-Staple-7', storedAgain), true);
  // Past the bound the oldest matches are forgotten, and still verify by hashing.
  for (let i = 0; i <= verifiedPassphrasesCachedMax; i++) {
    assert.equal(derivation.passphraseMatches(`k${i}`, 'p', derivation.passphraseHash(`k${i}`, 'p')), true);
  }
  assert.equal(derivation.passphraseMatches('key-a', 'Battery-Staple-7', storedAgain), true);
  assert.equal(derivation.passphraseMatches('key-a', 'Correct-Horse-42', storedAgain), false);
});
