// The worker thread that builds one report: the balance table arrives (moved, not copied), the
// tree is built and written under the data directory, and the report goes back. The apply loop
// never waits for any of it.

import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { ReportStore, reportOf } from './store.js';
import { buildTree } from './tree.js';
import type { BuildJob, BuildOutcome } from './reports.js';

const job = workerData as BuildJob;
const t0 = performance.now();
let outcome: BuildOutcome;
try {
  const store = new ReportStore(job.dir);
  // A node that replays the log past a report it built before finds it on disk.
  const existing = await store.report(job.meta.reportId);
  if (existing !== undefined) {
    outcome = { ok: true, report: existing, written: false, buildMs: 0, writeMs: 0, heapBytes: 0, externalBytes: 0 };
  } else {
    const tree = buildTree(job.table, job.saltKey);
    const t1 = performance.now();
    // This thread's memory with the whole tree held: its heap and its buffers (levels, hashes, the table).
    const heap = getHeapStatistics();
    const report = await store.write(reportOf(tree, job.meta, job.table.assets), tree, job.table.userIds);
    outcome = { ok: true, report, written: true, buildMs: t1 - t0, writeMs: performance.now() - t1, heapBytes: heap.total_heap_size, externalBytes: heap.external_memory };
  }
} catch (e) {
  outcome = { ok: false, error: e instanceof Error ? e.message : String(e) };
}
parentPort!.postMessage(outcome);
