#!/usr/bin/env node
// superd's short-TCP-connection benchmark: superd against the classic C super-servers.
// Method and figures: bench/README.md. Plain Node 20 ESM, no dependencies.
//
//   npm run bench
//   PEERS="superd tcpserver" CONCS="1 8" REPS=1 N=1000 npm run bench
//
// Safety: loopback only (loadgen refuses anything else), one daemon at a time, every child
// process under a hard timeout, every daemon stopped by its recorded pid after checking
// /proc/PID/exe.

import { execFile, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(BENCH);
const BUILD = path.join(BENCH, '.build');
const LOADGEN_SRC = path.join(BENCH, 'loadgen.c');
const LOADGEN = path.join(BUILD, 'loadgen');
// RESULTS_DIR: write the tables elsewhere (e.g. for a quick look that must not replace
// bench/results/latest.*)
const RESULTS = process.env.RESULTS_DIR ? path.resolve(process.env.RESULTS_DIR) : path.join(BENCH, 'results');

// ---------------------------------------------------------------------------------------------
// knobs

function die(msg, code = 1) {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(code);
}

function envList(name, def) {
  const v = process.env[name];
  return (v !== undefined && v.trim() !== '' ? v : def).split(/[\s,]+/).filter(Boolean);
}

function envNum(name, def, min, max) {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return def;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min || v > max) die(`${name}=${raw}: expected a number in ${min}..${max}`, 2);
  return v;
}

const CONCS = envList('CONCS', '1 8 32').map((s) => {
  const c = Number(s);
  if (!Number.isInteger(c) || c < 1 || c > 10000) die(`CONCS: bad concurrency '${s}'`, 2);
  return c;
});
const REPS = Math.trunc(envNum('REPS', 3, 1, 50));
const N = Math.trunc(envNum('N', 5000, 1, 1e6));
const TLIM = envNum('TLIM', 10, 1, 300);
const WARMUP = Math.trunc(envNum('WARMUP', 200, 0, 1e5));
const CONN_TIMEOUT = envNum('CONN_TIMEOUT', 5, 0.1, 60);
const PEERS_ROOT = process.env.PEERS_ROOT || '/tmp/peers-root';
const KEEP_TMP = process.env.KEEP_TMP === '1';
const QUIET_PCT = envNum('QUIET_PCT', 15, 0, 100);
const QUIET_MAX = envNum('QUIET_MAX', 20, 0, 600);
const NCPU = os.cpus().length || 1;
const NOISY_PCT = envNum('NOISY_PCT', 30, 0, 100);
const RETRY_NOISY = Math.trunc(envNum('RETRY_NOISY', 1, 0, 5));
// The held scenario: C=HELD_C on `cat` without, then with HELD handlers of a second service
// (`hold`) running in the same daemon. HELD=0 skips it.
const HELD = Math.trunc(envNum('HELD', 2000, 0, 20000));
const HELD_C = Math.trunc(envNum('HELD_C', 8, 1, 10000));
// connections the holder has connecting (not yet echoed) at once
const HOLD_CONNECTING = 32;
// bounded waits of the held scenario, seconds: all HELD handlers up (at ≥ 25 spawns/s), all gone
const HOLD_SETUP_MAX = Math.ceil(30 + HELD / 25);
const HOLD_RELEASE_MAX = Math.ceil(30 + HELD / 50);

const IS_ROOT = process.getuid() === 0;
const USER = IS_ROOT ? 'root' : os.userInfo().username;
const CLK_TCK = clockTicks();
const LG_TIMEOUT_MS = (TLIM + CONN_TIMEOUT + 15) * 1000;
// hard lifetime of one daemon instance (smoke test, warm-up and one run per concurrency)
// (each run may be repeated RETRY_NOISY times after waiting up to QUIET_MAX s for quiet)
const RUN_MAX = (1 + RETRY_NOISY) * (TLIM + CONN_TIMEOUT + QUIET_MAX + 10);
const DAEMON_LIFETIME = Math.ceil(60 + WARMUP / 20 + CONCS.length * RUN_MAX);
// the holder's hard lifetime (-t): setting up, one run (with its repeats) and a margin
const HOLDER_LIFETIME = Math.ceil(HOLD_SETUP_MAX + RUN_MAX + 30);
// a held-scenario daemon: smoke test, warm-up, the run without, the holder's life, the release
const HELD_DAEMON_LIFETIME = Math.ceil(60 + WARMUP / 20 + RUN_MAX + HOLDER_LIFETIME + HOLD_RELEASE_MAX + 20);

// ---------------------------------------------------------------------------------------------
// service kinds and peers
//
// A service kind says how loadgen talks to it; each peer has one config generator per service
// kind it can serve. A generator gets { dir, port, det } and returns
//   { argv, exe, files: {name: text}, logs: [extra log files] }.
// `echo` (builtin echo, no exec) has generators for superd and xinetd only: openbsd-inetd finds
// its internal echo only on port 7, and tcpserver has no builtins.
// `needsRoot`: the kind is skipped, with the reason printed, when the harness is not root.
// A peer's `held` generator (the held scenario) gets { dir, port, holdPort, det } and serves
// `cat` on port and `hold` (/bin/cat too, HELD of them at once) on holdPort in one daemon.

const SERVICES = {
  cat: { title: 'exec /bin/cat per connection', loadgenArgs: ['-s', '-E', '-V'] },
  catnobody: { title: 'exec /bin/cat per connection as nobody (uid/gid 65534)', loadgenArgs: ['-s', '-E', '-V'], needsRoot: true },
  echo: { title: 'builtin echo (no exec)', loadgenArgs: ['-s', '-E', '-V'] },
};
const DEFAULT_SERVICES = 'cat catnobody echo';
// the held scenario's instances, in the instance table and latest-state.tsv
const HELD_SERVICE = 'cat+hold';
const DEFAULT_HELD_PEERS = 'superd';

/** The name of uid/gid `id` in /etc/passwd or /etc/group, or null. */
function idName(file, id) {
  try {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length > 3 && Number(f[2]) === id && f[2] !== '') return f[0];
    }
  } catch {}
  return null;
}
const NOBODY_UID = 65534;
const NOBODY_USER = idName('/etc/passwd', NOBODY_UID) ?? 'nobody';
const NOBODY_GROUP = idName('/etc/group', NOBODY_UID) ?? 'nogroup';

function which(name, extra = []) {
  for (const d of [...(process.env.PATH || '').split(':'), '/usr/sbin', '/sbin', ...extra]) {
    if (!d) continue;
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {}
  }
  return null;
}

function dpkgVersion(pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f', '${Version}', pkg], { encoding: 'utf8', timeout: 10000 });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : null;
}

function missingLibs(bin) {
  const r = spawnSync('ldd', [bin], { encoding: 'utf8', timeout: 10000 });
  if (r.status !== 0) return [];
  return r.stdout.split('\n').filter((l) => l.includes('not found')).map((l) => l.trim().split(/\s/)[0]);
}

// xinetd finds an INTERNAL service by its service name (`echo`), so the name is the builtin's
// and `id` tells it apart. More than one service: pass [{ port, name, body, user, group }, …].
function xinetdConf(port, name, body, user = USER, group = null) {
  const svcs = Array.isArray(port) ? port : [{ port, name, body, user, group }];
  return `# written by superd's bench/run.mjs
# cps default (50 10) would switch the service off for 10 s after 50 conn/s: raised.
# instances/per_source: no cap in Debian's defaults, set explicitly (some distros ship 60).
defaults
{
\tcps        = 1000000 1
\tinstances  = UNLIMITED
\tper_source = UNLIMITED
}
${svcs.map((v) => `
service ${v.name}
{
${v.body}
\tsocket_type = stream
\tprotocol    = tcp
\twait        = no
\tuser        = ${v.user ?? USER}
${v.group ? `\tgroup       = ${v.group}\n` : ''}\tbind        = 127.0.0.1
\tport        = ${v.port}
\tcps         = 1000000 1
\tinstances   = UNLIMITED
\tper_source  = UNLIMITED
}
`).join('')}`;
}

function xinetdCfg(dir, det, conf) {
  return {
    argv: [det.bin, '-dontfork', '-filelog', path.join(dir, 'xinetd.log'), '-f', path.join(dir, 'xinetd.conf')],
    exe: det.exe,
    files: { 'xinetd.conf': conf },
    logs: [path.join(dir, 'xinetd.log')],
  };
}

const XINETD_CAT = '\ttype        = UNLISTED\n\tserver      = /bin/cat';

const PEERS = [
  {
    name: 'superd',
    detect() {
      const bin = path.join(ROOT, 'bin', 'superd');
      if (!fs.existsSync(bin)) return { reason: 'bin/superd does not exist yet' };
      const v = spawnSync(process.execPath, [bin, '--version'], { cwd: ROOT, encoding: 'utf8', timeout: 15000 });
      if (v.status !== 0) {
        const why = (v.stderr || v.stdout || String(v.error || v.signal || '')).trim().split('\n').slice(-3).join(' | ');
        return { reason: `\`node bin/superd --version\` failed (status ${v.status}): ${why.slice(0, 300)} — run \`npm run build\`?` };
      }
      const help = spawnSync(process.execPath, [bin, '--help'], { cwd: ROOT, encoding: 'utf8', timeout: 15000 });
      const warn = staleBuildWarning();
      return {
        bin,
        exe: fs.realpathSync(process.execPath),
        version: `${v.stdout.trim().split('\n')[0]} (node ${process.version})`,
        // superd's control socket defaults to /run/superd.sock as root; a benchmark instance
        // must not take over the machine's, so it gets one in its temp dir. This does not
        // change the connection path.
        controlSocketOpt: /--control-socket/.test(`${help.stdout}${help.stderr}`),
        warn,
      };
    },
    services: {
      cat: ({ dir, port, det }) => serviceFileSuperd(dir, det, `[bench-cat]\nport = ${port}\nbind = 127.0.0.1\nserver = /bin/cat\n`),
      catnobody: ({ dir, port, det }) => serviceFileSuperd(dir, det, `[bench-catnobody]\nport = ${port}\nbind = 127.0.0.1\nserver = /bin/cat\nuser = ${NOBODY_USER}\n`),
      echo: ({ dir, port, det }) => serviceFileSuperd(dir, det, `[bench-echo]\nport = ${port}\nbind = 127.0.0.1\nbuiltin = echo\n`),
    },
    // `hold` raises max_children (default 256) so that HELD handlers run at once; the measured
    // `cat` keeps every default.
    held: ({ dir, port, holdPort, det }) => serviceFileSuperd(dir, det,
      `[bench-cat]\nport = ${port}\nbind = 127.0.0.1\nserver = /bin/cat\n\n` +
      `[bench-hold]\nport = ${holdPort}\nbind = 127.0.0.1\nserver = /bin/cat\nmax_children = ${HELD + 64}\n`),
  },
  {
    name: 'tcpserver',
    detect() {
      const bin = which('tcpserver');
      if (!bin) return { reason: 'tcpserver not found (apt-get install ucspi-tcp)' };
      return { bin, exe: fs.realpathSync(bin), version: `ucspi-tcp ${dpkgVersion('ucspi-tcp') ?? '?'}` };
    },
    services: {
      // -R no ident, -H no reverse DNS (its resolver ignores /etc/hosts), -l0 no local-name
      // lookup, -c 10000 instead of 40, -b 1024 instead of 20.
      cat: ({ port, det }) => ({
        argv: [det.bin, '-RHl0', '-c', '10000', '-b', '1024', '127.0.0.1', String(port), '/bin/cat'],
        exe: det.exe,
      }),
      // -u/-g: tcpserver itself switches to uid/gid 65534 once it is listening, and its
      // children (forked, then exec'd) run as that.
      catnobody: ({ port, det }) => ({
        argv: [det.bin, '-u', String(NOBODY_UID), '-g', String(NOBODY_UID), '-RHl0', '-c', '10000', '-b', '1024', '127.0.0.1', String(port), '/bin/cat'],
        exe: det.exe,
      }),
    },
    // no `held`: tcpserver serves one service per process, so the held handlers would belong to
    // another daemon.
  },
  {
    name: 'xinetd',
    detect() {
      const bin = which('xinetd');
      if (!bin) return { reason: 'xinetd not found (apt-get install xinetd)' };
      const v = spawnSync(bin, ['-version'], { encoding: 'utf8', timeout: 10000 });
      const ver = `${v.stdout}${v.stderr}`.match(/xinetd Version (\S+)/)?.[1] ?? dpkgVersion('xinetd') ?? '?';
      return { bin, exe: fs.realpathSync(bin), version: `xinetd ${ver}` };
    },
    services: {
      cat: ({ dir, port, det }) => xinetdCfg(dir, det, xinetdConf(port, 'bench-cat', XINETD_CAT)),
      catnobody: ({ dir, port, det }) => xinetdCfg(dir, det, xinetdConf(port, 'bench-catnobody', XINETD_CAT, NOBODY_USER, NOBODY_GROUP)),
      echo: ({ dir, port, det }) => xinetdCfg(dir, det, xinetdConf(port, 'echo', '\ttype        = INTERNAL UNLISTED\n\tid          = bench-echo')),
    },
    held: ({ dir, port, holdPort, det }) => xinetdCfg(dir, det, xinetdConf([
      { port, name: 'bench-cat', body: XINETD_CAT },
      { port: holdPort, name: 'bench-hold', body: XINETD_CAT },
    ])),
  },
  {
    name: 'openbsd-inetd',
    detect() {
      const unpacked = path.join(PEERS_ROOT, 'openbsd-inetd', 'usr', 'sbin', 'inetd');
      const hint = `apt-get download openbsd-inetd && dpkg-deb -x openbsd-inetd_*.deb ${PEERS_ROOT}/openbsd-inetd`;
      let bin = fs.existsSync(unpacked) ? unpacked : which('inetd');
      if (!bin) return { reason: `openbsd-inetd not found in PATH or ${unpacked} (${hint})` };
      // only the openbsd-inetd binary understands the options and config used here
      let image = '';
      try { image = fs.readFileSync(bin, 'latin1'); } catch {}
      if (!image.includes('usage: inetd [-dEil]')) return { reason: `${bin} is not openbsd-inetd (${hint})` };
      const miss = missingLibs(bin);
      if (miss.length) return { reason: `${bin}: missing libraries ${miss.join(', ')}` };
      let ver = null;
      if (bin === unpacked) {
        try {
          const ch = zlib.gunzipSync(fs.readFileSync(path.join(PEERS_ROOT, 'openbsd-inetd', 'usr/share/doc/openbsd-inetd/changelog.Debian.gz'))).toString();
          ver = ch.match(/^openbsd-inetd \(([^)]+)\)/)?.[1] ?? null;
        } catch {}
      } else ver = dpkgVersion('openbsd-inetd');
      return { bin, exe: fs.realpathSync(bin), version: `openbsd-inetd ${ver ?? '?'}${bin === unpacked ? ' (unpacked)' : ''}` };
    },
    services: {
      // -i: stay in the foreground. -R: invocations/min before the service is switched off
      // for 10 minutes (default 256). -q: listen backlog (default 128).
      // Its builtin echo is only found by /etc/services name (port 7), so no `echo` here.
      cat: ({ dir, port, det }) => inetdCfg(dir, det, [[port, USER]]),
      // the user column without a group: the user's primary group (nogroup), no supplementary ones
      catnobody: ({ dir, port, det }) => inetdCfg(dir, det, [[port, NOBODY_USER]]),
    },
    held: ({ dir, port, holdPort, det }) => inetdCfg(dir, det, [[port, USER], [holdPort, USER]]),
  },
];
const PEER_NAMES = PEERS.map((p) => p.name);

function inetdCfg(dir, det, lines) {
  return {
    argv: [det.bin, '-i', '-R', '100000000', '-q', '1024', path.join(dir, 'inetd.conf')],
    exe: det.exe,
    files: {
      'inetd.conf': "# written by superd's bench/run.mjs\n" +
        lines.map(([port, user]) => `127.0.0.1:${port}\tstream\ttcp\tnowait.100000000\t${user}\t/bin/cat\tcat\n`).join(''),
    },
  };
}

function serviceFileSuperd(dir, det, text) {
  // exactly what a user would write; superd runs with default options (log level, format,
  // stderr logging), except the control socket, which goes to the temp dir (see detect()).
  const sdir = path.join(dir, 'services.d');
  // As users run it: bin/superd itself, so its #! line's Node flags apply. BENCH_SUPERD_NODE_FLAGS
  // runs it through node with other flags instead, to measure alternatives.
  const flags = (process.env.BENCH_SUPERD_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
  const argv = process.env.BENCH_SUPERD_NODE_FLAGS === undefined
    ? [det.bin, 'run', '--services-dir', sdir]
    : [process.execPath, ...flags, det.bin, 'run', '--services-dir', sdir];
  if (det.controlSocketOpt) argv.push('--control-socket', path.join(dir, 'superd.sock'));
  // BENCH_SUPERD_ARGS: extra superd options for measuring alternatives (e.g. `--spawner node`).
  argv.push(...(process.env.BENCH_SUPERD_ARGS ?? '').split(/\s+/).filter(Boolean));
  return { argv, exe: det.exe, cwd: ROOT, files: { 'services.d/bench.conf': text }, dropEnv: /^SUPERD_/ };
}

function newestMtime(dir, ext) {
  let best = 0;
  const walk = (d) => {
    let ents = [];
    try { ents = fs.readdirSync(d, { withFileTypes: true }); } catch { return; }
    for (const e of ents) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith(ext)) best = Math.max(best, fs.statSync(p).mtimeMs);
    }
  };
  walk(dir);
  return best;
}

function staleBuildWarning() {
  const src = newestMtime(path.join(ROOT, 'src'), '.ts');
  const dist = newestMtime(path.join(ROOT, 'dist'), '.js');
  if (src && dist && src > dist) return 'src/ has files newer than dist/: `npm run build` first, or the old build is measured';
  return null;
}

// ---------------------------------------------------------------------------------------------
// /proc helpers

function clockTicks() {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 });
  const v = Number(r.stdout);
  return Number.isFinite(v) && v > 0 ? v : 100;
}

function readProcStat(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // f[0] = field 3 (state); utime = field 14 -> f[11]
    return {
      state: f[0],
      ppid: Number(f[1]),
      self: (Number(f[11]) + Number(f[12])) / CLK_TCK,
      children: (Number(f[13]) + Number(f[14])) / CLK_TCK,
    };
  } catch {
    return null;
  }
}

function exeOf(pid) {
  try { return fs.readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, ''); } catch { return null; }
}

function rssKb(pid) {
  try {
    const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)/m);
    return m ? Number(m[1]) : null;
  } catch { return null; }
}

function fdCount(pid) {
  try { return fs.readdirSync(`/proc/${pid}/fd`).length; } catch { return null; }
}

function snapshot(pid) {
  return { stat: readProcStat(pid), rss: rssKb(pid), fds: fdCount(pid) };
}

function childrenOf(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // fallback: scan /proc
    const out = [];
    for (const e of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(e)) continue;
      const st = readProcStat(e);
      if (st && st.ppid === pid) out.push(Number(e));
    }
    return out;
  }
}

/**
 * Children of pid, found as every process in /proc whose PPid is pid (so children started by any
 * of its threads count): { live, zombies }.
 */
function procChildren(pid) {
  let live = 0, zombies = 0;
  let ents = [];
  try { ents = fs.readdirSync('/proc'); } catch { return { live: null, zombies: null }; }
  for (const e of ents) {
    if (e.charCodeAt(0) > 57) continue; // not a pid
    const st = readProcStat(e);
    if (!st || st.ppid !== pid) continue;
    if (st.state === 'Z') zombies++;
    else if (st.state !== 'X') live++;
  }
  return { live, zombies };
}

/** Children of pid as `ps --ppid PID -o stat=` sees them: { total, zombies }. */
function psChildren(pid) {
  const r = spawnSync('ps', ['--ppid', String(pid), '-o', 'stat='], { encoding: 'utf8', timeout: 5000 });
  const lines = (r.stdout || '').split('\n').map((l) => l.trim()).filter(Boolean);
  return { total: lines.length, zombies: lines.filter((l) => l.includes('Z')).length };
}

function cpuTimes() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { total, idle: f[3] + f[4] };
}

function listenOverflows() {
  try {
    const lines = fs.readFileSync('/proc/net/netstat', 'utf8').split('\n');
    for (let i = 0; i + 1 < lines.length; i++) {
      if (lines[i].startsWith('TcpExt:') && lines[i + 1].startsWith('TcpExt:')) {
        const k = lines[i].split(/\s+/), v = lines[i + 1].split(/\s+/);
        const j = k.indexOf('ListenOverflows');
        return j > 0 ? Number(v[j]) : null;
      }
    }
  } catch {}
  return null;
}

function isListening(port) {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = fs.readFileSync(f, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const p = line.trim().split(/\s+/);
      if (p.length > 3 && p[1].endsWith(hex) && p[3] === '0A') return true;
    }
  }
  return false;
}

function countLines(file) {
  try {
    const b = fs.readFileSync(file);
    let n = 0;
    for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) n++;
    return { lines: n, bytes: b.length };
  } catch { return { lines: 0, bytes: 0 }; }
}

function tail(file, n = 5) {
  try { return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-n).join('\n'); } catch { return ''; }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// loadgen

function buildLoadgen() {
  let need = true;
  try { need = fs.statSync(LOADGEN).mtimeMs < fs.statSync(LOADGEN_SRC).mtimeMs; } catch {}
  if (!need) return;
  const cc = which('cc') ?? which('gcc') ?? which('clang');
  if (!cc) die('no C compiler found (cc) to build bench/loadgen.c. Hint: apt-get install gcc');
  fs.mkdirSync(BUILD, { recursive: true });
  const r = spawnSync(cc, ['-O2', '-Wall', '-o', LOADGEN, LOADGEN_SRC, '-lm'], { encoding: 'utf8', timeout: 120000 });
  if (r.status !== 0) die(`compiling loadgen failed:\n${r.stderr}${r.error ?? ''}`);
  process.stderr.write(`bench: built ${path.relative(ROOT, LOADGEN)} with ${cc} -O2\n`);
}

function loadgen(port, c, n, extra) {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-c', String(c), '-n', String(n), '-t', String(TLIM),
    '-T', String(CONN_TIMEOUT), ...extra, '-q', '-J'];
  return new Promise((resolve, reject) => {
    const child = execFile(LOADGEN, args, { timeout: LG_TIMEOUT_MS, killSignal: 'SIGKILL', encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`loadgen ${args.join(' ')}: ${err.message} ${stderr}`));
      try { resolve(JSON.parse(stdout)); } catch (e) { reject(new Error(`loadgen output: ${stdout} ${stderr}`)); }
    });
    runningLoadgens.add(child);
    child.on('exit', () => runningLoadgens.delete(child));
  });
}

/**
 * The held scenario's holder: `loadgen -H HELD` on holdPort. Resolves with its `held` event (all
 * HELD connections settled: echoed and kept open, or failed) or rejects after HOLD_SETUP_MAX s;
 * `h.release()` sends it SIGTERM (it closes every connection) and resolves with its `released`
 * event, SIGKILL after 10 s. Killed by the signal/exit handlers like any loadgen; bounded by its
 * own -t (HOLDER_LIFETIME), by PR_SET_PDEATHSIG, and by a SIGKILL timer 20 s after that.
 */
function startHolder(holdPort) {
  const args = ['-H', String(HELD), '-h', '127.0.0.1', '-p', String(holdPort), '-c', String(HOLD_CONNECTING),
    '-t', String(HOLDER_LIFETIME), '-T', String(CONN_TIMEOUT), '-q', '-J'];
  const child = spawn(LOADGEN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  runningLoadgens.add(child);
  const events = [];
  let out = '', err = '';
  const waiters = [];
  const killer = setTimeout(() => { try { child.kill('SIGKILL'); } catch {} }, (HOLDER_LIFETIME + 20) * 1000);
  const exited = new Promise((res) => child.on('exit', (code, signal) => {
    runningLoadgens.delete(child);
    clearTimeout(killer);
    res({ code, signal });
    for (const w of waiters.splice(0)) w();
  }));
  child.on('error', (e) => { err += String(e); });
  child.stderr.on('data', (b) => { err += b; });
  child.stdout.on('data', (b) => {
    out += b;
    for (let i; (i = out.indexOf('\n')) >= 0; ) {
      const line = out.slice(0, i);
      out = out.slice(i + 1);
      try { events.push(JSON.parse(line)); } catch { err += `unparsed: ${line}\n`; }
      for (const w of waiters.splice(0)) w();
    }
  });
  const waitEvent = async (name, ms) => {
    const t0 = Date.now();
    for (;;) {
      const e = events.find((x) => x.event === name);
      if (e) return e;
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`holder exited (${child.exitCode ?? child.signalCode}) before '${name}': ${err.trim().slice(0, 300)}`);
      }
      if (Date.now() - t0 >= ms) throw new Error(`holder: no '${name}' within ${Math.round(ms / 1000)} s`);
      await Promise.race([new Promise((res) => waiters.push(res)), sleep(Math.min(1000, ms))]);
    }
  };
  return {
    child,
    held: () => waitEvent('held', HOLD_SETUP_MAX * 1000),
    async release() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const done = await Promise.race([exited, sleep(10000).then(() => null)]);
      if (done === null) {
        child.kill('SIGKILL');
        await exited;
      }
      return events.find((x) => x.event === 'released') ?? null;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// daemons

let current = null; // the one daemon that may be running, for the signal/exit handlers
const runningLoadgens = new Set();

async function startDaemon({ argv, exe, cwd, env, logFile, lifetime = DAEMON_LIFETIME }) {
  const fd = fs.openSync(logFile, 'a');
  // `timeout` bounds the daemon's life even if this script dies; it becomes its own process
  // group, so a terminal's ^C reaches only us and we stop the daemon ourselves.
  const child = spawn('timeout', ['-k', '5', String(lifetime), ...argv], { cwd, env, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })));
  child.on('error', () => {});
  const d = { pid: null, tpid: child.pid, exe, child, exited, logFile };
  current = d;
  const t0 = Date.now();
  while (Date.now() - t0 < 5000 && child.exitCode === null && child.signalCode === null) {
    for (const k of childrenOf(child.pid)) {
      if (exeOf(k) === exe) {
        d.pid = k;
        return d;
      }
    }
    await sleep(10);
  }
  await stopDaemon(d);
  throw new Error(`daemon did not start: ${argv.join(' ')}\n${tail(logFile)}`);
}

function alive(pid) {
  const st = readProcStat(pid);
  return st !== null && st.state !== 'Z' && st.state !== 'X';
}

async function stopDaemon(d) {
  if (d.pid && alive(d.pid)) {
    if (exeOf(d.pid) !== d.exe) {
      process.stderr.write(`bench: pid ${d.pid} is no longer ${d.exe}; not signalling it\n`);
    } else {
      process.kill(d.pid, 'SIGTERM');
      const t0 = Date.now();
      while (alive(d.pid) && Date.now() - t0 < 5000) await sleep(20);
      if (alive(d.pid) && exeOf(d.pid) === d.exe) {
        process.stderr.write(`bench: pid ${d.pid} ignored SIGTERM for 5 s; SIGKILL\n`);
        process.kill(d.pid, 'SIGKILL');
      }
    }
  }
  // the `timeout` wrapper exits as soon as its child has
  const done = await Promise.race([d.exited, sleep(7000).then(() => null)]);
  if (done === null && d.child.exitCode === null && exeOf(d.tpid) === fs.realpathSync(which('timeout') ?? '/usr/bin/timeout')) {
    process.kill(d.tpid, 'SIGKILL');
  }
  if (current === d) current = null;
}

function stopCurrentSync() {
  for (const lg of runningLoadgens) {
    try { lg.kill('SIGKILL'); } catch {}
  }
  const d = current;
  if (!d) return;
  for (const pid of [d.pid, d.tpid]) {
    if (!pid || !alive(pid)) continue;
    const exe = exeOf(pid);
    if (pid === d.pid ? exe === d.exe : exe && path.basename(exe) === 'timeout') {
      try { process.kill(pid, 'SIGKILL'); } catch {}
    }
  }
  current = null;
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    process.stderr.write(`\nbench: ${sig}: stopping\n`);
    stopCurrentSync();
    process.exit(130);
  });
}
process.on('exit', stopCurrentSync);

/** Wait up to QUIET_MAX s for the machine to be at most QUIET_PCT % busy; returns the last busy %. */
async function waitQuiet() {
  let busy = 100;
  for (const t0 = Date.now(); ; ) {
    const b0 = cpuTimes();
    await sleep(500);
    const b1 = cpuTimes();
    busy = Math.round(100 * (1 - (b1.idle - b0.idle) / Math.max(1, b1.total - b0.total)));
    if (busy <= QUIET_PCT || Date.now() - t0 >= QUIET_MAX * 1000) return busy;
  }
}

// ---------------------------------------------------------------------------------------------
// one daemon instance: start, smoke test, idle state, warm-up, one run per concurrency, stop.
// The held scenario (held = true) uses an instance serving `cat` and `hold`: warm-up, C=HELD_C on
// `cat`, then HELD connections to `hold` are opened and kept open (HELD handlers running), C=HELD_C
// on `cat` again, then they are closed and the harness waits until the handlers are gone.

async function runInstance(peer, svcName, rep, tmpRoot, rows, states, held = false) {
  const svc = SERVICES[svcName];
  const stName = held ? HELD_SERVICE : svcName;
  const dir = path.join(tmpRoot, `r${rep}-${peer.name}-${held ? 'held' : svcName}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  const port = await freePort();
  let holdPort = null;
  if (held) do holdPort = await freePort(); while (holdPort === port);
  // What the rest of the machine is doing with no daemon running: other jobs skew everything.
  const bgBusy = await waitQuiet();
  const cfg = held ? peer.held({ dir, port, holdPort, det: peer.det }) : peer.services[svcName]({ dir, port, det: peer.det });
  for (const [name, text] of Object.entries(cfg.files ?? {})) {
    const f = path.join(dir, name);
    fs.mkdirSync(path.dirname(f), { recursive: true, mode: 0o755 });
    // superd as root refuses a services dir or file that is group/other-writable (whatever the
    // umask) or not owned by root (the harness's own uid here)
    fs.chmodSync(path.dirname(f), 0o755);
    fs.writeFileSync(f, text, { mode: 0o644 });
    fs.chmodSync(f, 0o644);
  }
  const env = { ...process.env };
  if (cfg.dropEnv) for (const k of Object.keys(env)) if (cfg.dropEnv.test(k)) delete env[k];
  const logFile = path.join(dir, 'daemon.log');
  const logs = [logFile, ...(cfg.logs ?? [])];
  const st = {
    rep, service: stName, peer: peer.name, version: peer.det.version, port, pid: null, background_busy_pct: bgBusy,
    smoke: 'not run', idle_rss_kb: null, idle_fds: null, conns: 0, end_rss_kb: null, end_fds: null,
    children_end: null, alive_end: null, log_lines: 0, log_bytes: 0, dir,
    // held scenario only: the holder's figures, the handlers seen in /proc, release time
    hold_port: holdPort, held_want: held ? HELD : null, held_ok: null, held_errors: null, held_setup_s: null,
    held_children: null, held_dropped: null, release_s: null, children_after_release: null,
  };
  states.push(st);
  const tag = `[rep ${rep}/${REPS}] ${peer.name} ${stName}`;
  if (bgBusy > 10) process.stderr.write(`${tag}: warning: the machine is ${bgBusy} % busy before the daemon starts; figures will be low\n`);
  let d;
  try {
    d = await startDaemon({ argv: cfg.argv, exe: cfg.exe, cwd: cfg.cwd ?? dir, env, logFile, lifetime: held ? HELD_DAEMON_LIFETIME : DAEMON_LIFETIME });
  } catch (e) {
    st.smoke = `FAILED(start)`;
    process.stderr.write(`${tag}: ${e.message}\n`);
    return;
  }
  st.pid = d.pid;
  let holder = null;
  try {
    const t0 = Date.now();
    const listening = () => isListening(port) && (holdPort === null || isListening(holdPort));
    while (!listening() && alive(d.pid) && Date.now() - t0 < 10000) await sleep(20);
    if (!listening()) {
      st.smoke = alive(d.pid) ? 'FAILED(not listening after 10 s)' : 'FAILED(daemon died)';
      process.stderr.write(`${tag}: ${st.smoke}\n${tail(logFile)}\n`);
      return;
    }
    const smoke = await loadgen(port, 1, 3, svc.loadgenArgs);
    st.conns += smoke.attempts;
    if (smoke.ok !== 3) {
      st.smoke = `FAILED(ok=${smoke.ok}${errorText(smoke)})${alive(d.pid) ? '' : ';daemon-died'}`;
      process.stderr.write(`${tag}: smoke test ${st.smoke}\n${tail(logFile)}\n`);
      return;
    }
    st.smoke = 'ok';
    await sleep(200);
    const idle = snapshot(d.pid);
    st.idle_rss_kb = idle.rss;
    st.idle_fds = idle.fds;
    if (WARMUP > 0) {
      const w = await loadgen(port, Math.min(8, WARMUP), WARMUP, svc.loadgenArgs);
      st.conns += w.attempts;
      if (w.errors) process.stderr.write(`${tag}: warm-up: ${w.errors} errors${errorText(w)}\n`);
    }
    const m = { d, port, svc, svcName, peer, rep, st, tag, rows };
    if (!held) {
      for (const c of CONCS) {
        if (!(await measure({ ...m, c, scenario: 'plain' }))) break;
      }
      return;
    }

    // held scenario
    if (!(await measure({ ...m, c: HELD_C, scenario: 'held0' }))) return;
    const h0 = Date.now();
    holder = startHolder(holdPort);
    const ev = await holder.held();
    st.conns += ev.attempts;
    st.held_ok = ev.held;
    st.held_errors = ev.errors;
    process.stderr.write(`${tag}: holder: ${ev.held}/${HELD} connections to 'hold' echoed and kept open in ${ev.elapsed_s.toFixed(1)} s` +
      `${ev.errors ? `; errors ${ev.errors}${errorText(ev)}` : ''}\n`);
    // each held connection echoed, so its handler is running; wait until /proc shows them all
    // as the daemon's children (bounded)
    let kids = procChildren(d.pid);
    while (kids.live < ev.held && alive(d.pid) && Date.now() - h0 < HOLD_SETUP_MAX * 1000) {
      await sleep(250);
      kids = procChildren(d.pid);
    }
    st.held_setup_s = round((Date.now() - h0) / 1000, 1);
    st.held_children = kids.live;
    process.stderr.write(`${tag}: ${kids.live} handlers running (${kids.zombies} zombies) after ${st.held_setup_s} s\n`);
    if (ev.held < HELD) process.stderr.write(`${tag}: warning: only ${ev.held} of ${HELD} connections held\n`);
    await measure({ ...m, c: HELD_C, scenario: 'held' });
    const r0 = Date.now();
    const rel = await holder.release();
    holder = null;
    st.held_dropped = rel ? rel.dropped : null;
    // every handler sees EOF and exits; wait until the daemon has reaped them all (bounded)
    kids = procChildren(d.pid);
    while ((kids.live || kids.zombies) && alive(d.pid) && Date.now() - r0 < HOLD_RELEASE_MAX * 1000) {
      await sleep(100);
      kids = procChildren(d.pid);
    }
    st.release_s = round((Date.now() - r0) / 1000, 1);
    st.children_after_release = kids.live + kids.zombies;
    process.stderr.write(`${tag}: released; ${st.children_after_release} children left after ${st.release_s} s` +
      `${rel?.dropped ? ` (${rel.dropped} held connections had been closed by the server)` : ''}\n`);
  } catch (e) {
    process.stderr.write(`${tag}: ${e.message}\n`);
    if (held && st.smoke === 'ok') st.smoke = `ok; held scenario FAILED: ${String(e.message).split('\n')[0].slice(0, 120)}`;
    else throw e;
  } finally {
    // the holder first (its handlers exit), then the daemon
    if (holder) await holder.release().catch(() => {});
    if (alive(d.pid)) {
      const end = snapshot(d.pid);
      st.end_rss_kb = end.rss;
      st.end_fds = end.fds;
      st.children_end = psChildren(d.pid).total;
      st.alive_end = 'yes';
    } else st.alive_end = 'no';
    await stopDaemon(d);
    for (const f of logs) {
      const c = countLines(f);
      st.log_lines += c.lines;
      st.log_bytes += c.bytes;
    }
  }
}

/**
 * One load run at concurrency c (run again, up to RETRY_NOISY times, when other jobs took more than
 * NOISY_PCT % of the CPU); pushes a row per run and returns the last, or null when the daemon is gone.
 */
async function measure({ d, port, c, svc, svcName, peer, rep, st, tag, rows, scenario }) {
  for (let attempt = 0; ; attempt++) {
    if (!alive(d.pid)) {
      process.stderr.write(`${tag}: daemon is gone before C=${c}\n`);
      return null;
    }
    const kids = procChildren(d.pid);
    const before = snapshot(d.pid);
    const cpu0 = cpuTimes();
    const ovf0 = listenOverflows();
    const lg = await loadgen(port, c, N, svc.loadgenArgs);
    const cpu1 = cpuTimes();
    const ovf1 = listenOverflows();
    const after = snapshot(d.pid);
    const z0 = psChildren(d.pid);
    await sleep(1000);
    const z1 = psChildren(d.pid);
    st.conns += lg.attempts;
    const dSelf = after.stat && before.stat ? after.stat.self - before.stat.self : null;
    const dKids = after.stat && before.stat ? after.stat.children - before.stat.children : null;
    const row = {
      rep, service: svcName, peer: peer.name, conc: c, n: N, port,
      attempts: lg.attempts, ok: lg.ok, errors: lg.errors,
      refused: lg.refused, reset: lg.reset, timeout: lg.timeout, short: lg.short, mismatch: lg.mismatch,
      other: lg.other, abandoned: lg.abandoned, time_limit_hit: lg.time_limit_hit ? 1 : 0,
      elapsed_s: lg.elapsed_s, conn_per_s: lg.conn_per_s,
      p50_ms: lg.p50_ms, p90_ms: lg.p90_ms, p99_ms: lg.p99_ms, max_ms: lg.max_ms, mean_ms: lg.mean_ms,
      client_cpu_s: lg.cpu_s,
      daemon_cpu_s: round(dSelf, 3), children_cpu_s: round(dKids, 3),
      server_cpu_us_per_conn: dSelf !== null && lg.ok > 0 ? Math.round(((dSelf + dKids) * 1e6) / lg.ok) : null,
      cpu_busy_pct: Math.round(100 * (1 - (cpu1.idle - cpu0.idle) / Math.max(1, cpu1.total - cpu0.total))),
      // busy CPU time of the whole machine not spent by the daemon, its children or loadgen:
      // other jobs on the machine (and a little kernel/harness work), in % of all cores
      other_cpu_pct: dSelf === null ? null : Math.max(0, Math.round((100 * (((cpu1.total - cpu1.idle) - (cpu0.total - cpu0.idle)) / CLK_TCK - dSelf - dKids - lg.cpu_s)) / (lg.elapsed_s * NCPU))),
      listen_ovf: ovf0 !== null && ovf1 !== null ? ovf1 - ovf0 : null,
      rss_before_kb: before.rss, rss_after_kb: after.rss, fds_before: before.fds, fds_after: after.fds,
      children_after: z0.total, zombies_after: z0.zombies, zombies_1s: z1.zombies,
      attempt, superseded: 0,
      // added columns (the ones above keep their names and places):
      // the daemon process alone (all its threads; not the children it reaped)
      daemon_cpu_us_per_conn: dSelf !== null && lg.ok > 0 ? Math.round((dSelf * 1e6) / lg.ok) : null,
      // plain = the per-service runs; held0 / held = the held scenario without / with HELD handlers
      scenario,
      // live children of the daemon in /proc just before the run (the held handlers)
      children_before: kids.live,
    };
    rows.push(row);
    const what = scenario === 'held' ? ` with ${kids.live} held` : scenario === 'held0' ? ' (none held)' : '';
    process.stderr.write(`${tag} C=${c}${what}: ${Math.round(lg.conn_per_s)} conn/s, p50 ${fmtMs(lg.p50_ms)} p99 ${fmtMs(lg.p99_ms)} ms, ` +
      `errors ${lg.errors}/${lg.attempts}${errorText(lg)}${lg.time_limit_hit ? ' [time limit]' : ''}, ` +
      `server ${row.server_cpu_us_per_conn ?? '?'} µs/conn, daemon ${row.daemon_cpu_us_per_conn ?? '?'} µs/conn, ` +
      `other CPU ${row.other_cpu_pct} %, rss ${after.rss} kB, fds ${after.fds}, zombies ${z0.zombies}/${z1.zombies}\n`);
    // Another job took a large share of the machine during this run: measure it again (once by
    // default). The superseded row stays in latest.tsv but not in the tables.
    if (row.other_cpu_pct !== null && row.other_cpu_pct > NOISY_PCT && attempt < RETRY_NOISY) {
      row.superseded = 1;
      process.stderr.write(`${tag} C=${c}: other jobs used ${row.other_cpu_pct} % of the CPU; running it again\n`);
      await waitQuiet();
      continue;
    }
    return row;
  }
}

// ---------------------------------------------------------------------------------------------
// formatting

function round(v, d) { return v === null || v === undefined ? null : Number(v.toFixed(d)); }
function median(a) {
  const s = a.filter((x) => x !== null && x !== undefined && !Number.isNaN(x)).sort((x, y) => x - y);
  if (!s.length) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
function fmtMs(v) {
  if (v === null || v === undefined) return 'NA';
  return v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0);
}
function fmtRange(vals, f = (x) => String(x)) {
  const s = vals.filter((x) => x !== null && x !== undefined);
  if (!s.length) return 'NA';
  const lo = Math.min(...s), hi = Math.max(...s);
  return lo === hi ? f(lo) : `${f(lo)}–${f(hi)}`;
}
const KINDS = ['refused', 'reset', 'timeout', 'short', 'mismatch', 'other', 'abandoned'];
function errorText(r) {
  const parts = KINDS.filter((k) => r[k]).map((k) => `${k} ${r[k]}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

function summarize(allRows, allStates, peersRun) {
  const rows = allRows.filter((r) => !r.superseded && r.scenario === 'plain');
  const states = allStates.filter((s) => s.service !== HELD_SERVICE);
  const out = [];
  const bySvc = [...new Set(rows.map((r) => r.service).concat(states.map((s) => s.service)))];
  for (const svc of bySvc) {
    out.push(`### service: ${SERVICES[svc].title}`, '');
    out.push('| peer | C | conn/s median (min–max) | p50 ms | p99 ms | max ms | errors/attempts | server CPU µs/conn | daemon CPU µs/conn | client CPU s | CPU busy % | other jobs CPU % | RSS idle kB | RSS after kB | fds idle | fds after | zombies after / +1 s | listen ovf |');
    out.push('|---|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const peer of peersRun) {
      const inst = states.filter((s) => s.service === svc && s.peer === peer);
      if (!inst.length) continue;
      const pr = rows.filter((r) => r.service === svc && r.peer === peer);
      if (!pr.length) {
        out.push(`| ${peer} | – | not measured: ${[...new Set(inst.map((s) => s.smoke))].join('; ')} |||||||||||||||`);
        continue;
      }
      for (const c of CONCS) {
        const rr = pr.filter((r) => r.conc === c);
        if (!rr.length) continue;
        const cps = rr.map((r) => r.conn_per_s);
        const sum = (k) => rr.reduce((a, r) => a + (r[k] ?? 0), 0);
        const errs = KINDS.filter((k) => k !== 'abandoned' && sum(k)).map((k) => `${k} ${sum(k)}`);
        const cut = sum('abandoned');
        const tl = rr.some((r) => r.time_limit_hit) ? ' ⏱' : '';
        out.push(`| ${peer} | ${c} | **${Math.round(median(cps))}** (${Math.round(Math.min(...cps))}–${Math.round(Math.max(...cps))})${tl} ` +
          `| ${fmtMs(median(rr.map((r) => r.p50_ms)))} | ${fmtMs(median(rr.map((r) => r.p99_ms)))} | ${fmtMs(Math.max(...rr.map((r) => r.max_ms ?? 0)))} ` +
          `| ${sum('errors') - cut}/${sum('attempts') - cut}${errs.length ? ` (${errs.join(', ')})` : ''}${cut ? ` (+${cut} cut off)` : ''} ` +
          `| ${median(rr.map((r) => r.server_cpu_us_per_conn)) ?? 'NA'} | ${median(rr.map((r) => r.daemon_cpu_us_per_conn)) ?? 'NA'} | ${round(median(rr.map((r) => r.client_cpu_s)), 2)} ` +
          `| ${median(rr.map((r) => r.cpu_busy_pct))} | ${fmtRange(rr.map((r) => r.other_cpu_pct))} | ${fmtRange(inst.map((s) => s.idle_rss_kb))} | ${fmtRange(rr.map((r) => r.rss_after_kb))} ` +
          `| ${fmtRange(inst.map((s) => s.idle_fds))} | ${fmtRange(rr.map((r) => r.fds_after))} ` +
          `| ${Math.max(...rr.map((r) => r.zombies_after))} / ${Math.max(...rr.map((r) => r.zombies_1s))} | ${sum('listen_ovf')} |`);
      }
    }
    out.push('');
    // superd against the best other peer
    const med = (peer, c, k) => median(rows.filter((r) => r.service === svc && r.peer === peer && r.conc === c).map((r) => r[k]));
    const others = peersRun.filter((p) => p !== 'superd' && rows.some((r) => r.service === svc && r.peer === p));
    if (rows.some((r) => r.service === svc && r.peer === 'superd') && others.length) {
      const parts = [];
      for (const c of CONCS) {
        const s = med('superd', c, 'conn_per_s');
        let best = null;
        for (const p of others) {
          const v = med(p, c, 'conn_per_s');
          if (v !== null && (best === null || v > best.v)) best = { p, v };
        }
        if (s !== null && best) parts.push(`C=${c}: **${(s / best.v).toFixed(2)}×** (${Math.round(s)} vs ${best.p} ${Math.round(best.v)})`);
      }
      out.push(`superd / best peer by median conn/s — ${parts.join('; ')}.`, '');
      if (CONCS.includes(1)) {
        const s = med('superd', 1, 'p50_ms'), t = med('tcpserver', 1, 'p50_ms');
        if (s !== null && t !== null) out.push(`superd p50 at C=1: **${fmtMs(s)} ms** vs tcpserver ${fmtMs(t)} ms (${(s / t).toFixed(2)}×, ${s >= t ? '+' : '−'}${Math.abs(s - t).toFixed(2)} ms).`, '');
      }
      // the daemon's own CPU per connection against tcpserver's
      const dparts = [];
      for (const c of CONCS) {
        const s = med('superd', c, 'daemon_cpu_us_per_conn'), t = med('tcpserver', c, 'daemon_cpu_us_per_conn');
        if (s !== null && t !== null && t > 0) dparts.push(`C=${c}: **${(s / t).toFixed(2)}×** (${Math.round(s)} vs ${Math.round(t)})`);
      }
      if (dparts.length) out.push(`superd / tcpserver daemon CPU µs/conn — ${dparts.join('; ')}.`, '');
      // issue 11's targets for a `user = nobody` service, at C=8
      if (svc === 'catnobody') {
        const s = med('superd', 8, 'conn_per_s'), t = med('tcpserver', 8, 'conn_per_s');
        const sd = med('superd', 8, 'daemon_cpu_us_per_conn'), td = med('tcpserver', 8, 'daemon_cpu_us_per_conn');
        if (s !== null && t !== null && t > 0) {
          const r = s / t;
          let line = `${svc} at C=8: superd / tcpserver conn/s **${r.toFixed(2)}×** (${Math.round(s)} vs ${Math.round(t)}; target ≥ 0.40×: ${r >= 0.4 ? 'met' : 'NOT met'})`;
          if (sd !== null && td !== null && td > 0) {
            const q = sd / td;
            line += `; daemon CPU µs/conn **${q.toFixed(2)}×** (${Math.round(sd)} vs ${Math.round(td)}; target ≤ 3×: ${q <= 3 ? 'met' : 'NOT met'})`;
          }
          out.push(`${line}.`, '');
        } else if (!CONCS.includes(8)) {
          out.push(`${svc}: the targets are at C=8, which this run did not measure (CONCS="${CONCS.join(' ')}").`, '');
        }
      }
      // builtin echo: served inside the daemon, so superd should beat xinetd's internal echo
      // clearly; target at C=8 against xinetd (the only peer with a builtin on a free port)
      if (svc === 'echo') {
        const s = med('superd', 8, 'conn_per_s'), x = med('xinetd', 8, 'conn_per_s');
        // server CPU (daemon + reaped children): xinetd forks a child per stream echo connection
        const sd = med('superd', 8, 'server_cpu_us_per_conn'), xd = med('xinetd', 8, 'server_cpu_us_per_conn');
        if (s !== null && x !== null && x > 0) {
          const r = s / x;
          out.push(`builtin echo at C=8: superd / xinetd conn/s **${r.toFixed(2)}×** (${Math.round(s)} vs ${Math.round(x)}; target ≥ 2.0×: ${r >= 2 ? 'met' : 'NOT met'})` +
            `${sd !== null && xd !== null ? `; server CPU µs/conn ${Math.round(sd)} vs ${Math.round(xd)}` : ''}.`, '');
        } else if (!CONCS.includes(8)) {
          out.push(`builtin echo: the target is at C=8, which this run did not measure (CONCS="${CONCS.join(' ')}").`, '');
        } else if (x === null) {
          out.push('builtin echo: the target is against xinetd, which this run did not measure at C=8.', '');
        } else {
          out.push('builtin echo at C=8: superd has no figure (see its row above); target ≥ 2.0× xinetd: NOT met.', '');
        }
      }
    } else if (!rows.some((r) => r.service === svc && r.peer === 'superd')) {
      out.push('superd: not measured in this run.', '');
      // the target line stays in the summary, so a failed superd instance reads as a missed target
      const why = [...new Set(states.filter((s) => s.service === svc && s.peer === 'superd').map((s) => s.smoke))].join('; ');
      if (svc === 'echo' && why) out.push(`builtin echo at C=8: superd not measured (smoke test ${why}); target ≥ 2.0× xinetd: NOT met.`, '');
    }
  }
  out.push(...summarizeHeld(allRows, allStates, peersRun));
  out.push('### daemon instances (one per peer, service and repetition)', '');
  out.push('| peer | service | version | instances | smoke test | machine busy before start % | idle RSS kB | RSS at end kB | fds idle | fds at end | children at end | alive at end | connections | log lines (per connection) |');
  out.push('|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---|');
  for (const svc of [...bySvc, HELD_SERVICE]) {
    for (const peer of peersRun) {
      const inst = allStates.filter((s) => s.service === svc && s.peer === peer);
      if (!inst.length) continue;
      const conns = inst.reduce((a, s) => a + s.conns, 0);
      const lines = inst.reduce((a, s) => a + s.log_lines, 0);
      const bytes = inst.reduce((a, s) => a + s.log_bytes, 0);
      out.push(`| ${peer} | ${svc} | ${inst[0].version} | ${inst.length} | ${[...new Set(inst.map((s) => s.smoke))].join('; ')} ` +
        `| ${fmtRange(inst.map((s) => s.background_busy_pct))} | ${fmtRange(inst.map((s) => s.idle_rss_kb))} | ${fmtRange(inst.map((s) => s.end_rss_kb))} | ${fmtRange(inst.map((s) => s.idle_fds))} ` +
        `| ${fmtRange(inst.map((s) => s.end_fds))} | ${fmtRange(inst.map((s) => s.children_end))} | ${[...new Set(inst.map((s) => s.alive_end))].join('/')} ` +
        `| ${conns} | ${lines} (${conns ? (lines / conns).toFixed(2) : 'NA'}; ${(bytes / 1024).toFixed(0)} KiB) |`);
    }
  }
  out.push('');
  return out.join('\n');
}

/** The held scenario: C=HELD_C on `cat` without and with HELD `hold` handlers running. */
function summarizeHeld(allRows, allStates, peersRun) {
  const rows = allRows.filter((r) => !r.superseded && (r.scenario === 'held0' || r.scenario === 'held'));
  const states = allStates.filter((s) => s.service === HELD_SERVICE);
  if (!states.length) return [];
  const out = [`### throughput on \`cat\` while ${HELD} handlers of another service run (C=${HELD_C})`, ''];
  out.push(`One daemon serving \`cat\` and \`hold\` (also /bin/cat); after the warm-up, C=${HELD_C} on \`cat\` ("without"), then ` +
    `${HELD} connections to \`hold\` opened and kept open, each echoed once (so ${HELD} handlers run), C=${HELD_C} on \`cat\` again ("with"), ` +
    'then the held connections are closed. "with / without" is the median of the per-repetition ratios (min–max).', '');
  out.push('| peer | handlers running during "with" | conn/s without | conn/s with | with / without | p50 ms without / with | p99 ms without / with | daemon CPU µs/conn without / with | server CPU µs/conn without / with | errors/attempts without / with | RSS kB without / with | fds without / with | hold set-up s | release s (children left) |');
  out.push('|---|---:|---|---|---|---|---|---|---|---|---|---|---:|---|');
  const verdicts = [];
  for (const peer of peersRun) {
    const inst = states.filter((s) => s.peer === peer);
    if (!inst.length) continue;
    const w0 = rows.filter((r) => r.peer === peer && r.scenario === 'held0');
    const w1 = rows.filter((r) => r.peer === peer && r.scenario === 'held');
    if (!w1.length) {
      out.push(`| ${peer} | – | not measured: ${[...new Set(inst.map((s) => s.smoke))].join('; ')} ||||||||||||`);
      continue;
    }
    const ratios = [];
    for (const r1 of w1) {
      const r0 = w0.find((r) => r.rep === r1.rep);
      if (r0 && r0.conn_per_s > 0) ratios.push(r1.conn_per_s / r0.conn_per_s);
    }
    const cps = (rr) => rr.length ? `**${Math.round(median(rr.map((r) => r.conn_per_s)))}** (${fmtRange(rr.map((r) => Math.round(r.conn_per_s)))})${rr.some((r) => r.time_limit_hit) ? ' ⏱' : ''}` : 'NA';
    const two = (k, f = (x) => String(x)) => `${w0.length ? f(median(w0.map((r) => r[k]))) : 'NA'} / ${f(median(w1.map((r) => r[k])))}`;
    const errs = (rr) => {
      const cut = rr.reduce((a, r) => a + r.abandoned, 0);
      return `${rr.reduce((a, r) => a + r.errors, 0) - cut}/${rr.reduce((a, r) => a + r.attempts, 0) - cut}`;
    };
    const ratio = median(ratios);
    out.push(`| ${peer} | ${fmtRange(w1.map((r) => r.children_before))} | ${cps(w0)} | ${cps(w1)} ` +
      `| ${ratio === null ? 'NA' : `**${ratio.toFixed(2)}×** (${fmtRange(ratios, (x) => x.toFixed(2))})`} ` +
      `| ${two('p50_ms', fmtMs)} | ${two('p99_ms', fmtMs)} | ${two('daemon_cpu_us_per_conn', (x) => x ?? 'NA')} | ${two('server_cpu_us_per_conn', (x) => x ?? 'NA')} ` +
      `| ${w0.length ? errs(w0) : 'NA'} / ${errs(w1)} | ${fmtRange(w0.map((r) => r.rss_after_kb))} / ${fmtRange(w1.map((r) => r.rss_after_kb))} ` +
      `| ${fmtRange(w0.map((r) => r.fds_after))} / ${fmtRange(w1.map((r) => r.fds_after))} ` +
      `| ${fmtRange(inst.map((s) => s.held_setup_s))} | ${fmtRange(inst.map((s) => s.release_s))} (${fmtRange(inst.map((s) => s.children_after_release))}) |`);
    if (peer === 'superd' && ratio !== null) {
      const d0 = median(w0.map((r) => r.daemon_cpu_us_per_conn)), d1 = median(w1.map((r) => r.daemon_cpu_us_per_conn));
      verdicts.push(`superd conn/s with ${HELD} held / without: **${ratio.toFixed(2)}×** (target ≥ 0.90: ${ratio >= 0.9 ? 'met' : 'NOT met'}); ` +
        `daemon CPU µs/conn ${d0 ?? 'NA'} without, ${d1 ?? 'NA'} with.`);
    }
  }
  out.push('', ...verdicts.flatMap((v) => [v, '']));
  const short = states.filter((s) => s.held_ok !== null && s.held_ok < HELD);
  if (short.length) out.push(`Held fewer than ${HELD}: ${short.map((s) => `${s.peer} rep ${s.rep}: ${s.held_ok} (${s.held_errors} errors)`).join('; ')}.`, '');
  return out;
}

function toTsv(objs) {
  if (!objs.length) return '';
  const keys = Object.keys(objs[0]);
  const cell = (v) => (v === null || v === undefined ? 'NA' : String(v).replace(/[\t\n]/g, ' '));
  return [keys.join('\t'), ...objs.map((o) => keys.map((k) => cell(o[k])).join('\t'))].join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// main

async function main() {
  if (process.platform !== 'linux') die('Linux only (/proc, epoll)');
  const skipped = [];
  let svcSel = envList('SERVICES', DEFAULT_SERVICES);
  for (const s of svcSel) if (!SERVICES[s]) die(`SERVICES: unknown service '${s}' (known: ${Object.keys(SERVICES).join(', ')})`, 2);
  if (!IS_ROOT) {
    for (const s of svcSel.filter((x) => SERVICES[x].needsRoot)) {
      const why = `needs root (its handlers run as ${NOBODY_USER}, uid ${NOBODY_UID}); running as uid ${process.getuid()}`;
      skipped.push(`service ${s}: ${why}`);
      process.stderr.write(`bench: skipping service ${s}: ${why}\n`);
    }
    svcSel = svcSel.filter((x) => !SERVICES[x].needsRoot);
  }
  const peerSel = envList('PEERS', PEER_NAMES.join(' '));
  for (const p of peerSel) if (!PEER_NAMES.includes(p)) die(`PEERS: unknown peer '${p}' (known: ${PEER_NAMES.join(', ')})`, 2);
  const heldSel = HELD > 0 ? envList('HELD_PEERS', DEFAULT_HELD_PEERS).filter((p) => p !== 'none') : [];
  for (const p of heldSel) if (!PEER_NAMES.includes(p)) die(`HELD_PEERS: unknown peer '${p}' (known: ${PEER_NAMES.join(', ')}, none)`, 2);
  if (!which('timeout')) die('`timeout` (coreutils) is needed');

  buildLoadgen();

  const peers = [];
  for (const name of peerSel) {
    const peer = PEERS.find((p) => p.name === name);
    const det = peer.detect();
    if (det.reason) {
      skipped.push(`${name}: ${det.reason}`);
      process.stderr.write(`bench: skipping ${name}: ${det.reason}\n`);
      continue;
    }
    if (det.warn) process.stderr.write(`bench: warning: ${name}: ${det.warn}\n`);
    const svcs = svcSel.filter((s) => peer.services[s]);
    let heldRun = heldSel.includes(name);
    if (heldRun && !peer.held) {
      heldRun = false;
      skipped.push(`held scenario for ${name}: it serves one service per process`);
      process.stderr.write(`bench: no held scenario for ${name}: it serves one service per process\n`);
    }
    if (!svcs.length && !heldRun) continue;
    peers.push({ ...peer, det, svcs, heldRun });
  }
  if (!peers.length) die('no peer available');

  const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'superd-bench-'));
  fs.chmodSync(tmpRoot, 0o755);
  const started = new Date();
  const heldPeers = peers.filter((p) => p.heldRun).map((p) => p.name);
  process.stderr.write(`bench: peers ${peers.map((p) => p.name).join(', ')}; services ${svcSel.join(', ')}; C ${CONCS.join(',')}; ` +
    `${REPS} reps × N=${N} (time limit ${TLIM} s); ` +
    `held scenario: ${heldPeers.length ? `${heldPeers.join(', ')}, ${HELD} held, C=${HELD_C}` : 'off'}; scratch ${tmpRoot}\n`);

  const rows = [];
  const states = [];
  // Interleaved: each repetition runs every peer once, each in a fresh daemon, the peer order
  // rotating by one per repetition, so slow drifts in the machine hit all peers alike.
  for (let rep = 1; rep <= REPS; rep++) {
    const k = (rep - 1) % peers.length;
    const order = [...peers.slice(k), ...peers.slice(0, k)];
    for (const peer of order) {
      for (const svc of peer.svcs) await runInstance(peer, svc, rep, tmpRoot, rows, states);
      if (peer.heldRun) await runInstance(peer, 'cat', rep, tmpRoot, rows, states, true);
    }
  }
  const secs = Math.round((Date.now() - started.getTime()) / 1000);

  const cpu = os.cpus();
  const sysctl = (p) => { try { return fs.readFileSync(p, 'utf8').trim(); } catch { return '?'; } };
  const peersRun = PEER_NAMES.filter((n) => peers.some((p) => p.name === n));
  const head = [
    '## Latest figures',
    '',
    `Generated by \`npm run bench\` (bench/run.mjs) on ${started.toISOString()} in ${secs} s. ` +
      `Machine: ${cpu.length} CPU (${cpu[0]?.model ?? '?'}), Linux ${os.release()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB; ` +
      `node ${process.version}; somaxconn ${sysctl('/proc/sys/net/core/somaxconn')}, tcp_tw_reuse ${sysctl('/proc/sys/net/ipv4/tcp_tw_reuse')}; running as ${USER}.`,
    '',
    `Parameters: CONCS="${CONCS.join(' ')}" REPS=${REPS} N=${N} TLIM=${TLIM} WARMUP=${WARMUP} CONN_TIMEOUT=${CONN_TIMEOUT} QUIET_PCT=${QUIET_PCT} QUIET_MAX=${QUIET_MAX} NOISY_PCT=${NOISY_PCT} RETRY_NOISY=${RETRY_NOISY}. ` +
      `Each run: \`loadgen -p PORT -c C -n ${N} -t ${TLIM} -s -E -V\`. Median of ${REPS} run(s), min–max in brackets; ` +
      `p50/p99 are medians over the runs, max the maximum; errors summed. ` +
      'server CPU = (daemon utime+stime + reaped children cutime+cstime) / connections ok; ' +
      'daemon CPU = the daemon process\'s own utime+stime (all its threads, not its children) / connections ok. ' +
      'errors/attempts leaves out the connections still in flight when a run hit its time limit ("cut off"). ' +
      'CPU busy % is the whole machine (100 % = all cores); "other jobs CPU %" is the part of it not used by the daemon, ' +
      'its children or loadgen (mostly other users of the machine: figures from runs where it is high are low). ' +
      `A run where it exceeded ${NOISY_PCT} % was run again (up to ${RETRY_NOISY}×) and only the last one is in the tables ` +
      `(${rows.filter((r) => r.superseded).length} superseded run(s), kept in latest.tsv). ⏱ = a run hit the time limit.`,
    '',
    `Peers: ${peers.map((p) => `${p.name} = ${p.det.version}`).join('; ')}.` + (skipped.length ? ` Not run: ${skipped.join('; ')}.` : '') +
      ` Held scenario: ${heldPeers.length ? `${heldPeers.join(', ')}; HELD=${HELD} HELD_C=${HELD_C}` : 'off'}.`,
    '',
  ];
  const md = head.join('\n') + summarize(rows, states, peersRun);
  process.stdout.write(`\n${md}`);
  fs.mkdirSync(RESULTS, { recursive: true });
  fs.writeFileSync(path.join(RESULTS, 'latest.md'), md);
  fs.writeFileSync(path.join(RESULTS, 'latest.tsv'), toTsv(rows));
  fs.writeFileSync(path.join(RESULTS, 'latest-state.tsv'), toTsv(states.map(({ dir, ...s }) => s)));
  const shown = RESULTS.startsWith(`${ROOT}/`) ? path.relative(ROOT, RESULTS) : RESULTS;
  process.stderr.write(`bench: wrote ${shown}/latest.md, latest.tsv, latest-state.tsv\n`);
  const failed = states.some((s) => s.smoke !== 'ok');
  if (KEEP_TMP || failed) process.stderr.write(`bench: scratch kept in ${tmpRoot}${failed ? ' (a smoke test failed; see the logs there)' : ''}\n`);
  else fs.rmSync(tmpRoot, { recursive: true, force: true });
}

main().catch((e) => {
  stopCurrentSync();
  die(e.stack || String(e));
});
