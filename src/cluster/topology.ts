// A topology names the clouds (failure domains) and what runs in each: one etcd member and one
// node (replica + gateway). `everbook cluster up` reads it; the default is three clouds with
// recognisable names. On one machine every cloud gets its own ports, and, as root, its own
// network namespace and address so an outage can be a real network cut.

import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { z } from 'zod';
import { namespaceOf } from './netns.js';

const Cloud = z.strictObject({
  /** Lower-case letters, digits and dashes: it names processes, directories and namespaces. */
  name: z.string().regex(/^[a-z][a-z0-9-]{0,14}$/),
  etcdClientPort: z.number().int().min(1024).max(65_535),
  etcdPeerPort: z.number().int().min(1024).max(65_535),
  apiPort: z.number().int().min(1024).max(65_535),
});

const Topology = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,30}$/),
  clouds: z.array(Cloud).min(1).max(7),
  /** The subnet (first three octets) for per-cloud namespaces when run as root. */
  subnet: z.string().regex(/^\d{1,3}\.\d{1,3}\.\d{1,3}$/).default('10.213.7'),
});

export type CloudSpec = z.infer<typeof Cloud>;
export type TopologySpec = z.infer<typeof Topology>;

export const defaultTopology: TopologySpec = {
  name: 'everbook-local',
  subnet: '10.213.7',
  clouds: [
    { name: 'aws-tokyo', etcdClientPort: 23_791, etcdPeerPort: 23_801, apiPort: 18_081 },
    { name: 'gcp-hongkong', etcdClientPort: 23_792, etcdPeerPort: 23_802, apiPort: 18_082 },
    { name: 'azure-singapore', etcdClientPort: 23_793, etcdPeerPort: 23_803, apiPort: 18_083 },
  ],
};

export class TopologyError extends Error {
  override readonly name = 'TopologyError';
}

export function parseTopology(value: unknown): TopologySpec {
  const parsed = Topology.safeParse(value);
  if (!parsed.success) {
    throw new TopologyError(`topology is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const t = parsed.data;
  const names = new Set(t.clouds.map((c) => c.name));
  if (names.size !== t.clouds.length) throw new TopologyError('cloud names must be unique');
  const ports = t.clouds.flatMap((c) => [c.etcdClientPort, c.etcdPeerPort, c.apiPort]);
  if (new Set(ports).size !== ports.length) throw new TopologyError('every port must be distinct');
  if (t.clouds.length % 2 === 0) throw new TopologyError('use an odd number of clouds (3 or 5): an even count adds no fault tolerance');
  return t;
}

export async function loadTopology(path: string | undefined): Promise<TopologySpec> {
  if (path === undefined) return defaultTopology;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new TopologyError(`cannot read topology ${path}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new TopologyError(`topology ${path} is not JSON: ${(e as Error).message}`);
  }
  return parseTopology(json);
}

/** Where each cloud's processes listen: loopback in process mode, the cloud's own address with namespaces. */
export interface CloudAddress {
  readonly cloud: CloudSpec;
  readonly host: string;
  readonly namespace: string | undefined;
  readonly etcdClientUrl: string;
  readonly etcdPeerUrl: string;
  readonly apiUrl: string;
}

/** A short tag naming one deployment's namespaces and links: its subnet's third octet. */
export function networkTag(t: TopologySpec): string {
  return t.subnet.split('.')[2]!;
}

export function addresses(t: TopologySpec, namespaces: boolean): CloudAddress[] {
  return t.clouds.map((cloud, i) => {
    const host = namespaces ? `${t.subnet}.${10 + i}` : '127.0.0.1';
    return {
      cloud, host, namespace: namespaces ? namespaceOf(networkTag(t), cloud.name) : undefined,
      etcdClientUrl: `http://${host}:${cloud.etcdClientPort}`,
      etcdPeerUrl: `http://${host}:${cloud.etcdPeerPort}`,
      apiUrl: `http://${host}:${cloud.apiPort}`,
    };
  });
}

/** A loopback port free right now (the kernel picks it; a test or benchmark then uses it). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => { resolve(typeof address === 'object' && address !== null ? address.port : 0); });
    });
    server.on('error', reject);
  });
}

/** The default three clouds on free ports, under another name and subnet: for tests and benchmarks. */
export async function freeTopology(name: string, subnet: string): Promise<TopologySpec> {
  const clouds = [];
  for (const c of defaultTopology.clouds) {
    clouds.push({ name: c.name, etcdClientPort: await freeLoopbackPort(), etcdPeerPort: await freeLoopbackPort(), apiPort: await freeLoopbackPort() });
  }
  return parseTopology({ name, subnet, clouds });
}
