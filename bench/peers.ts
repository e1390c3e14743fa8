// The peers: how each is found on this machine (detect) and configured per service kind.
// A peer's `held` generator (the held scenario) serves `cat` on port and `hold` (/bin/cat too,
// HELD of them at once) on holdPort in one daemon. `echo` (builtin echo, no exec) has
// generators for superd and xinetd only: openbsd-inetd finds its internal echo only on port 7,
// and tcpserver has no builtins.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { inetdCfg, serviceFileSuperd, XINETD_CAT, xinetdCfg, xinetdConf, type DaemonConfig, type Detected } from './configs.js';
import { dpkgVersion, missingLibs, NOBODY_GROUP, NOBODY_UID, NOBODY_USER, staleBuildWarning, which } from './host.js';
import { HELD, PEERS_ROOT, USER } from './options.js';
import { ROOT } from './paths.js';
import type { ServiceName } from './services.js';
import { detectStunnel, stunnelTls, superdTls } from './tls.js';

export interface ConfigArgs { dir: string; port: number; det: Detected }
export interface HeldConfigArgs extends ConfigArgs { holdPort: number }

export interface Peer {
  name: string;
  /** what was found, or why the peer cannot run here */
  detect(): Detected | { reason: string };
  services: Partial<Record<ServiceName, (a: ConfigArgs) => DaemonConfig>>;
  held?: (a: HeldConfigArgs) => DaemonConfig;
}

/** A peer found on this machine, with the service kinds and scenarios it will run. */
export interface ReadyPeer extends Peer { det: Detected; svcs: ServiceName[]; heldRun: boolean }

function detectSuperd(): Detected | { reason: string } {
  const bin = path.join(ROOT, 'bin', 'superd');
  if (!fs.existsSync(bin)) return { reason: 'bin/superd does not exist yet' };
  const v = spawnSync(process.execPath, [bin, '--version'], { cwd: ROOT, encoding: 'utf8', timeout: 15000 });
  if (v.status !== 0) {
    const why = (v.stderr || v.stdout || String(v.error || v.signal || '')).trim().split('\n').slice(-3).join(' | ');
    return { reason: `\`node bin/superd --version\` failed (status ${v.status}): ${why.slice(0, 300)} — run \`npm run build\`?` };
  }
  const help = spawnSync(process.execPath, [bin, '--help'], { cwd: ROOT, encoding: 'utf8', timeout: 15000 });
  return {
    bin,
    exe: fs.realpathSync(process.execPath),
    version: `${v.stdout.trim().split('\n')[0]} (node ${process.version})`,
    // superd's control socket defaults to /run/superd.sock as root; a benchmark instance
    // must not take over the machine's, so it gets one in its temp dir. This does not
    // change the connection path.
    controlSocketOpt: /--control-socket/.test(`${help.stdout}${help.stderr}`),
    warn: staleBuildWarning(),
  };
}

/** `cat` as the PROXY row runs it: the same service, reading the header loadgen -P writes. */
const proxyCat = (version: 'v1' | 'v2', port: number): string =>
  `[bench-proxy${version}]\nport = ${port}\nbind = 127.0.0.1\nserver = /bin/cat\nproxy_protocol = ${version}\nproxy_from = 127.0.0.1\n`;

/** The settings row: `cat` with five settings, so through nice(1), dash and setpriv (src/spawn/settings.ts). */
const SETTINGS = 'nice = 0\numask = 027\nrlimit_nofile = 256\nrlimit_core = 0\nno_new_privileges = yes\n';

const superd: Peer = {
  name: 'superd',
  detect: detectSuperd,
  services: {
    cat: ({ dir, port, det }) => serviceFileSuperd(dir, det, `[bench-cat]\nport = ${port}\nbind = 127.0.0.1\nserver = /bin/cat\n`),
    catnobody: ({ dir, port, det }) => serviceFileSuperd(dir, det, `[bench-catnobody]\nport = ${port}\nbind = 127.0.0.1\nserver = /bin/cat\nuser = ${NOBODY_USER}\n`),
    echo: ({ dir, port, det }) => serviceFileSuperd(dir, det, `[bench-echo]\nport = ${port}\nbind = 127.0.0.1\nbuiltin = echo\n`),
    proxyv1: ({ dir, port, det }) => serviceFileSuperd(dir, det, proxyCat('v1', port)),
    proxyv2: ({ dir, port, det }) => serviceFileSuperd(dir, det, proxyCat('v2', port)),
    tls: superdTls,
    catsettings: ({ dir, port, det }) => serviceFileSuperd(dir, det, `[bench-catsettings]\nport = ${port}\nbind = 127.0.0.1\nserver = /bin/cat\n${SETTINGS}`),
  },
  // `hold` raises max_children (default 256) so that HELD handlers run at once; the measured
  // `cat` keeps every default.
  held: ({ dir, port, holdPort, det }) => serviceFileSuperd(dir, det,
    `[bench-cat]\nport = ${port}\nbind = 127.0.0.1\nserver = /bin/cat\n\n` +
    `[bench-hold]\nport = ${holdPort}\nbind = 127.0.0.1\nserver = /bin/cat\nmax_children = ${HELD + 64}\n`),
};

// -R no ident, -H no reverse DNS (its resolver ignores /etc/hosts), -l0 no local-name lookup,
// -c 10000 instead of 40, -b 1024 instead of 20.
const TCPSERVER_OPTS = ['-RHl0', '-c', '10000', '-b', '1024'];
const tcpserver: Peer = {
  name: 'tcpserver',
  detect() {
    const bin = which('tcpserver');
    if (!bin) return { reason: 'tcpserver not found (apt-get install ucspi-tcp)' };
    return { bin, exe: fs.realpathSync(bin), version: `ucspi-tcp ${dpkgVersion('ucspi-tcp') ?? '?'}` };
  },
  services: {
    cat: ({ port, det }) => ({ argv: [det.bin, ...TCPSERVER_OPTS, '127.0.0.1', String(port), '/bin/cat'], exe: det.exe }),
    // -u/-g: tcpserver itself switches to uid/gid 65534 once it is listening, and its
    // children (forked, then exec'd) run as that.
    catnobody: ({ port, det }) => ({
      argv: [det.bin, '-u', String(NOBODY_UID), '-g', String(NOBODY_UID), ...TCPSERVER_OPTS, '127.0.0.1', String(port), '/bin/cat'],
      exe: det.exe,
    }),
  },
  // no `held`: tcpserver serves one service per process, so the held handlers would belong to
  // another daemon.
};

const xinetd: Peer = {
  name: 'xinetd',
  detect() {
    const bin = which('xinetd');
    if (!bin) return { reason: 'xinetd not found (apt-get install xinetd)' };
    const v = spawnSync(bin, ['-version'], { encoding: 'utf8', timeout: 10000 });
    const ver = `${v.stdout}${v.stderr}`.match(/xinetd Version (\S+)/)?.[1] ?? dpkgVersion('xinetd') ?? '?';
    return { bin, exe: fs.realpathSync(bin), version: `xinetd ${ver}` };
  },
  services: {
    cat: ({ dir, port, det }) => xinetdCfg(dir, det, xinetdConf([{ port, name: 'bench-cat', body: XINETD_CAT }])),
    catnobody: ({ dir, port, det }) => xinetdCfg(dir, det, xinetdConf([
      { port, name: 'bench-catnobody', body: XINETD_CAT, user: NOBODY_USER, group: NOBODY_GROUP },
    ])),
    echo: ({ dir, port, det }) => xinetdCfg(dir, det, xinetdConf([
      { port, name: 'echo', body: '\ttype        = INTERNAL UNLISTED\n\tid          = bench-echo' },
    ])),
  },
  held: ({ dir, port, holdPort, det }) => xinetdCfg(dir, det, xinetdConf([
    { port, name: 'bench-cat', body: XINETD_CAT },
    { port: holdPort, name: 'bench-hold', body: XINETD_CAT },
  ])),
};

/** The version in an unpacked package's changelog.Debian.gz, or null. */
function unpackedVersion(): string | null {
  try {
    const gz = fs.readFileSync(path.join(PEERS_ROOT, 'openbsd-inetd', 'usr/share/doc/openbsd-inetd/changelog.Debian.gz'));
    return zlib.gunzipSync(gz).toString().match(/^openbsd-inetd \(([^)]+)\)/)?.[1] ?? null;
  } catch { return null; }
}

function detectInetd(): Detected | { reason: string } {
  const unpacked = path.join(PEERS_ROOT, 'openbsd-inetd', 'usr', 'sbin', 'inetd');
  const hint = `apt-get download openbsd-inetd && dpkg-deb -x openbsd-inetd_*.deb ${PEERS_ROOT}/openbsd-inetd`;
  const bin = fs.existsSync(unpacked) ? unpacked : which('inetd');
  if (!bin) return { reason: `openbsd-inetd not found in PATH or ${unpacked} (${hint})` };
  // only the openbsd-inetd binary understands the options and config used here
  let image = '';
  try { image = fs.readFileSync(bin, 'latin1'); } catch {}
  if (!image.includes('usage: inetd [-dEil]')) return { reason: `${bin} is not openbsd-inetd (${hint})` };
  const miss = missingLibs(bin);
  if (miss.length) return { reason: `${bin}: missing libraries ${miss.join(', ')}` };
  const ver = bin === unpacked ? unpackedVersion() : dpkgVersion('openbsd-inetd');
  return { bin, exe: fs.realpathSync(bin), version: `openbsd-inetd ${ver ?? '?'}${bin === unpacked ? ' (unpacked)' : ''}` };
}

const openbsdInetd: Peer = {
  name: 'openbsd-inetd',
  detect: detectInetd,
  services: {
    // -i: stay in the foreground. -R: invocations/min before the service is switched off
    // for 10 minutes (default 256). -q: listen backlog (default 128).
    // Its builtin echo is only found by /etc/services name (port 7), so no `echo` here.
    cat: ({ dir, port, det }) => inetdCfg(dir, det, [[port, USER]]),
    // the user column without a group: the user's primary group (nogroup), no supplementary ones
    catnobody: ({ dir, port, det }) => inetdCfg(dir, det, [[port, NOBODY_USER]]),
  },
  held: ({ dir, port, holdPort, det }) => inetdCfg(dir, det, [[port, USER], [holdPort, USER]]),
};

// The TLS rows' peer: stunnel terminating TLS for /bin/cat per connection (bench/tls.ts).
const stunnel: Peer = { name: 'stunnel', detect: detectStunnel, services: { tls: stunnelTls } };

export const PEERS: Peer[] = [superd, tcpserver, xinetd, openbsdInetd, stunnel];
export const PEER_NAMES = PEERS.map((p) => p.name);
