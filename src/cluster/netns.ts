// Network namespaces for the local multicloud deployment (root only): one namespace per cloud,
// each with one veth leg into a private "fabric" namespace holding a bridge, so clouds reach
// each other by the addresses given here and nothing touches the host's own interfaces. Cutting
// a cloud is setting its leg down inside the fabric: a real partition, with the cloud's
// processes and clients still running inside it.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { CloudAddress } from './topology.js';

const run = promisify(execFile);

/**
 * Every name carries the deployment's tag (its subnet's third octet), so two deployments (a
 * developer's and a test's) never touch each other's namespaces or links. Interface names are
 * at most 15 characters.
 */
export const namespaceOf = (tag: string, cloud: string): string => `evb-${tag}-${cloud}`;
const fabric = (tag: string): string => `evb-${tag}-fabric`;
const BRIDGE = 'evbbr';
/** The host's own leg into the fabric, so operators and drills in the root namespace reach every cloud. */
const hostLeg = (tag: string): string => `ev${tag}h`;
const hostFabricLeg = (tag: string): string => `ev${tag}hf`;
const fabricLeg = (tag: string, i: number): string => `ev${tag}v${i}f`;
const cloudLeg = (tag: string, i: number): string => `ev${tag}v${i}c`;

async function ip(...args: string[]): Promise<void> {
  await run('ip', args);
}

async function inNs(ns: string, ...args: string[]): Promise<void> {
  await run('ip', ['netns', 'exec', ns, ...args]);
}

export function namespacesAvailable(): boolean {
  return process.getuid?.() === 0;
}

export async function existingNamespaces(tag: string): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(`evb-${tag}-`));
}

/**
 * Builds the fabric, the clouds' namespaces and the host leg (`hostAddress`/24 on the host side,
 * reaching only the addresses given to the clouds here).
 */
export async function createNetwork(tag: string, clouds: readonly CloudAddress[], hostAddress: string): Promise<void> {
  const f = fabric(tag);
  await ip('netns', 'add', f);
  await inNs(f, 'ip', 'link', 'set', 'lo', 'up');
  await inNs(f, 'ip', 'link', 'add', BRIDGE, 'type', 'bridge');
  await inNs(f, 'ip', 'link', 'set', BRIDGE, 'up');
  await ip('link', 'add', hostLeg(tag), 'type', 'veth', 'peer', 'name', hostFabricLeg(tag));
  await ip('link', 'set', hostFabricLeg(tag), 'netns', f);
  await inNs(f, 'ip', 'link', 'set', hostFabricLeg(tag), 'master', BRIDGE);
  await inNs(f, 'ip', 'link', 'set', hostFabricLeg(tag), 'up');
  await ip('addr', 'add', `${hostAddress}/24`, 'dev', hostLeg(tag));
  await ip('link', 'set', hostLeg(tag), 'up');
  for (const [i, c] of clouds.entries()) {
    const ns = c.namespace!;
    await ip('netns', 'add', ns);
    await inNs(ns, 'ip', 'link', 'set', 'lo', 'up');
    await ip('link', 'add', fabricLeg(tag, i), 'type', 'veth', 'peer', 'name', cloudLeg(tag, i));
    await ip('link', 'set', fabricLeg(tag, i), 'netns', f);
    await ip('link', 'set', cloudLeg(tag, i), 'netns', ns);
    await inNs(f, 'ip', 'link', 'set', fabricLeg(tag, i), 'master', BRIDGE);
    await inNs(f, 'ip', 'link', 'set', fabricLeg(tag, i), 'up');
    await inNs(ns, 'ip', 'addr', 'add', `${c.host}/24`, 'dev', cloudLeg(tag, i));
    await inNs(ns, 'ip', 'link', 'set', cloudLeg(tag, i), 'up');
  }
}

/** Cuts (down) or heals (up) one cloud's only link to the others. */
export async function setCloudLink(tag: string, index: number, up: boolean): Promise<void> {
  await inNs(fabric(tag), 'ip', 'link', 'set', fabricLeg(tag, index), up ? 'up' : 'down');
}

/** Removes every namespace of this deployment (their veths, the host leg's peer included, go with them). */
export async function destroyNetwork(tag: string): Promise<void> {
  for (const ns of await existingNamespaces(tag)) {
    await ip('netns', 'del', ns).catch(() => undefined);
  }
  await ip('link', 'del', hostLeg(tag)).catch(() => undefined);
}

/** The command prefix that runs a program inside a cloud's namespace (none in process mode). */
export function netnsPrefix(c: CloudAddress): string[] {
  return c.namespace === undefined ? [] : ['ip', 'netns', 'exec', c.namespace];
}
