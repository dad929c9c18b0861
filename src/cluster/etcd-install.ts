// etcd comes from Debian's etcd-server package. When it is missing and we are root on a Debian
// machine, it is installed; otherwise the command stops with what to install.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

async function have(cmd: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}

export async function ensureEtcd(): Promise<void> {
  if (await have('etcd')) return;
  if (process.getuid?.() !== 0 || !(await have('apt-get'))) {
    throw new Error('etcd is not installed: install Debian\'s etcd-server package (apt-get install etcd-server), then try again');
  }
  console.error('everbook: installing etcd-server from Debian\'s packages...');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await run('apt-get', ['update', '-qq'], { env, maxBuffer: 64 * 1024 * 1024 });
  await run('apt-get', ['install', '-y', '-qq', 'etcd-server'], { env, maxBuffer: 64 * 1024 * 1024 });
  if (!(await have('etcd'))) throw new Error('apt-get installed etcd-server but etcd is still not on the PATH');
}
