// Makes sure etcd is installed: Debian's etcd-server package, installed when missing if we are
// root on a Debian machine, else a clear message saying what to install. Used by the test setup
// (scripts/ensure.mjs --etcd) and by `everbook cluster up`. Plain Node, no dependencies.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const hasCommand = (cmd) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

export function ensureEtcd() {
  if (hasCommand('etcd')) return;
  if (process.getuid?.() !== 0 || !hasCommand('apt-get')) {
    console.error('everbook: etcd is needed: install Debian\'s etcd-server package (apt-get install etcd-server) and run again.');
    process.exit(1);
  }
  console.error('everbook: installing etcd-server from Debian\'s packages...');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', 'etcd-server'], { stdio: 'inherit', env });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) ensureEtcd();
