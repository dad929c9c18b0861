// Records the golden log (test/fixtures/golden/): generates the records (test/support/golden-log.ts),
// encodes each with the real record codec, and stores the payloads (one base64 line each) and
// what replaying them must give (state hashes at checkpoints, a digest of every record's results
// and events). Run with `npm run golden:record`, and only when the state format or the log's
// contents change on purpose: a fixture recorded again agrees with any engine, right or wrong.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { encodeBatch } = await import(join(root, 'dist', 'src', 'replica', 'index.js'));
const { goldenLog } = await import(join(root, 'dist', 'test', 'support', 'golden-log.js'));
const { replayGolden } = await import(join(root, 'dist', 'test', 'support', 'golden-replay.js'));

const payloads = goldenLog().map((batch) => encodeBatch(batch));
const expected = replayGolden(payloads);
const dir = join(root, 'test', 'fixtures', 'golden');
mkdirSync(dir, { recursive: true });
const lines = payloads.map((p) => Buffer.from(p).toString('base64'));
writeFileSync(join(dir, 'log.b64'), lines.join('\n') + '\n');
writeFileSync(join(dir, 'expected.json'), JSON.stringify(expected, null, 1) + '\n');
const bytes = lines.reduce((n, l) => n + l.length + 1, 0);
console.log(`golden log: ${payloads.length} records, ${bytes} bytes; final state hash ${expected.checkpoints.at(-1).stateHash}`);
console.log(JSON.stringify(expected.outcomeCounts));
console.log(JSON.stringify(expected.eventCounts));
