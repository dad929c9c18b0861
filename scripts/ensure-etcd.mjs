// Makes sure the multicloud tools are installed: etcd (Debian's etcd-server package) and, as
// root, iproute2 (`ip`, for the network namespace each cloud gets). Installs what is missing
// when we are root on a Debian machine, else says what to install. Used by the test setup
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
  const root = process.getuid?.() === 0;
  // Without root there are no namespaces, so `ip` is not needed.
  const missing = [
    ...(hasCommand('etcd') ? [] : ['etcd-server']),
    ...(root && !hasCommand('ip') ? ['iproute2'] : []),
  ];
  if (missing.length === 0) return;
  if (!root || !hasCommand('apt-get')) {
    console.error(`everbook: etcd is needed: install Debian's ${missing.join(' and ')} package (apt-get install ${missing.join(' ')}) and run again.`);
    process.exit(1);
  }
  console.error(`everbook: installing ${missing.join(', ')} from Debian's packages...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: 'inherit', env });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) ensureEtcd();
