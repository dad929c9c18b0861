// Network namespaces for the local multicloud deployment (root only): one namespace per cloud,
// each with one veth leg into a private "fabric" namespace holding a bridge, so clouds reach
// each other by the addresses given here and nothing touches the host's own interfaces. Cutting
// a cloud is setting its leg down inside the fabric: a real partition, with the cloud's
// processes and clients still running inside it.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { CloudAddress } from './topology.js';

const run = promisify(execFile);
const FABRIC = 'evb-fabric';
const BRIDGE = 'evb-br';
/** The host's own leg into the fabric, so operators and drills in the root namespace reach every cloud. */
const HOST_LEG = 'evbh';
const HOST_FABRIC_LEG = 'evbhf';

/** Interface names are at most 15 characters: index-based. */
const fabricLeg = (i: number): string => `evbv${i}f`;
const cloudLeg = (i: number): string => `evbv${i}c`;

async function ip(...args: string[]): Promise<void> {
  await run('ip', args);
}

async function inNs(ns: string, ...args: string[]): Promise<void> {
  await run('ip', ['netns', 'exec', ns, ...args]);
}

export function namespacesAvailable(): boolean {
  return process.getuid?.() === 0;
}

export async function existingNamespaces(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith('evb-'));
}

/**
 * Builds the fabric, the clouds' namespaces and the host leg (`hostAddress`/24 on the host side,
 * reaching only the addresses given to the clouds here).
 */
export async function createNetwork(clouds: readonly CloudAddress[], hostAddress: string): Promise<void> {
  await ip('netns', 'add', FABRIC);
  await inNs(FABRIC, 'ip', 'link', 'set', 'lo', 'up');
  await inNs(FABRIC, 'ip', 'link', 'add', BRIDGE, 'type', 'bridge');
  await inNs(FABRIC, 'ip', 'link', 'set', BRIDGE, 'up');
  await ip('link', 'add', HOST_LEG, 'type', 'veth', 'peer', 'name', HOST_FABRIC_LEG);
  await ip('link', 'set', HOST_FABRIC_LEG, 'netns', FABRIC);
  await inNs(FABRIC, 'ip', 'link', 'set', HOST_FABRIC_LEG, 'master', BRIDGE);
  await inNs(FABRIC, 'ip', 'link', 'set', HOST_FABRIC_LEG, 'up');
  await ip('addr', 'add', `${hostAddress}/24`, 'dev', HOST_LEG);
  await ip('link', 'set', HOST_LEG, 'up');
  for (const [i, c] of clouds.entries()) {
    const ns = c.namespace!;
    await ip('netns', 'add', ns);
    await inNs(ns, 'ip', 'link', 'set', 'lo', 'up');
    await ip('link', 'add', fabricLeg(i), 'type', 'veth', 'peer', 'name', cloudLeg(i));
    await ip('link', 'set', fabricLeg(i), 'netns', FABRIC);
    await ip('link', 'set', cloudLeg(i), 'netns', ns);
    await inNs(FABRIC, 'ip', 'link', 'set', fabricLeg(i), 'master', BRIDGE);
    await inNs(FABRIC, 'ip', 'link', 'set', fabricLeg(i), 'up');
    await inNs(ns, 'ip', 'addr', 'add', `${c.host}/24`, 'dev', cloudLeg(i));
    await inNs(ns, 'ip', 'link', 'set', cloudLeg(i), 'up');
  }
}

/** Cuts (down) or heals (up) one cloud's only link to the others. */
export async function setCloudLink(index: number, up: boolean): Promise<void> {
  await inNs(FABRIC, 'ip', 'link', 'set', fabricLeg(index), up ? 'up' : 'down');
}

/** Removes every namespace this module creates (their veths, the host leg's peer included, go with them). */
export async function destroyNetwork(): Promise<void> {
  for (const ns of await existingNamespaces()) {
    await ip('netns', 'del', ns).catch(() => undefined);
  }
  await ip('link', 'del', HOST_LEG).catch(() => undefined);
}

/** The command prefix that runs a program inside a cloud's namespace (none in process mode). */
export function netnsPrefix(c: CloudAddress): string[] {
  return c.namespace === undefined ? [] : ['ip', 'netns', 'exec', c.namespace];
}
