// What each peer is started with: argv and config files, as bench/README.md's peer table says.
// A generator returns a DaemonConfig; files are written into the instance's temp dir.
import path from 'node:path';
import { USER } from './options.js';
import { ROOT } from './paths.js';

/** What a peer's detect() found. */
export interface Detected {
  bin: string;
  /** the daemon's /proc/PID/exe, to find and stop it safely */
  exe: string;
  version: string;
  /** superd: whether `--help` lists --control-socket */
  controlSocketOpt?: boolean;
  warn?: string | null;
}

export interface DaemonConfig {
  argv: string[];
  exe: string;
  cwd?: string;
  /** name (relative to the instance's dir) → text */
  files?: Record<string, string>;
  /** log files besides the daemon's stderr */
  logs?: string[];
  /** environment variables removed before the start */
  dropEnv?: RegExp;
}

export interface XinetdService { port: number; name: string; body: string; user?: string; group?: string | null }

export const XINETD_CAT = '\ttype        = UNLISTED\n\tserver      = /bin/cat';

// xinetd finds an INTERNAL service by its service name (`echo`), so the name is the builtin's
// and `id` tells it apart.
export function xinetdConf(svcs: XinetdService[]): string {
  return `# written by superd's bench/run.ts
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

export function xinetdCfg(dir: string, det: Detected, conf: string): DaemonConfig {
  return {
    argv: [det.bin, '-dontfork', '-filelog', path.join(dir, 'xinetd.log'), '-f', path.join(dir, 'xinetd.conf')],
    exe: det.exe,
    files: { 'xinetd.conf': conf },
    logs: [path.join(dir, 'xinetd.log')],
  };
}

/** openbsd-inetd with one `127.0.0.1:PORT stream tcp nowait.N USER /bin/cat cat` line per [port, user]. */
export function inetdCfg(dir: string, det: Detected, lines: [number, string][]): DaemonConfig {
  return {
    argv: [det.bin, '-i', '-R', '100000000', '-q', '1024', path.join(dir, 'inetd.conf')],
    exe: det.exe,
    files: {
      'inetd.conf': "# written by superd's bench/run.ts\n" +
        lines.map(([port, user]) => `127.0.0.1:${port}\tstream\ttcp\tnowait.100000000\t${user}\t/bin/cat\tcat\n`).join(''),
    },
  };
}

export function serviceFileSuperd(dir: string, det: Detected, text: string): DaemonConfig {
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
