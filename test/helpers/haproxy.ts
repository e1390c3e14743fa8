// A real HAProxy in front of superd for the PROXY protocol tests: a config
// written to a temp dir (mode tcp, one frontend on a free loopback port, one
// backend server with send-proxy or send-proxy-v2), run in the foreground
// (-db) and stopped with the tests. Ready once its frontend is listening, as
// the kernel says (/proc/net/tcp): no probe connection, which would reach
// superd and show in its log.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, within } from './wait.js';

export const HAPROXY = '/usr/sbin/haproxy';

export interface HaproxyOptions {
  /** Where the frontend listens: 127.0.0.1 or ::1. */
  frontendHost: string;
  frontendPort: number;
  /** superd's service. */
  backendPort: number;
  send: 'v1' | 'v2';
  /** Health checks every 200 ms, each with a PROXY header (check-send-proxy: LOCAL in version 2), passed when the handler answers `ok`. */
  check?: boolean;
}

export interface Haproxy {
  readonly pid: number;
  /** Everything it wrote (it logs to stderr in the foreground). */
  output(): string;
  stop(): Promise<void>;
}

function config(o: HaproxyOptions): string {
  const bind = o.frontendHost.includes(':') ? `[${o.frontendHost}]` : o.frontendHost;
  const send = o.send === 'v1' ? 'send-proxy' : 'send-proxy-v2';
  const check = o.check === true ? ' check inter 200 check-send-proxy' : '';
  return [
    'global',
    '  maxconn 200',
    'defaults',
    '  mode tcp',
    '  timeout connect 5s',
    '  timeout client 30s',
    '  timeout server 30s',
    'frontend in',
    `  bind ${bind}:${o.frontendPort}`,
    '  default_backend superd',
    'backend superd',
    // HAProxy ends a plain connect check with a reset as soon as it connects,
    // often before the backend has accepted it: a check that waits for an
    // answer is one superd is seen to serve, every time.
    ...(o.check === true ? ['  option tcp-check', '  tcp-check connect default', '  tcp-check expect string ok'] : []),
    `  server s 127.0.0.1:${o.backendPort} ${send}${check}`,
    '',
  ].join('\n');
}

/** Whether something listens on tcp `port` (IPv4 or IPv6), by /proc/net/tcp{,6}: state 0A is LISTEN. */
async function listening(port: number): Promise<boolean> {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[1]?.endsWith(`:${hex}`) && f[3] === '0A') return true;
    }
  }
  return false;
}

export async function startHaproxy(o: HaproxyOptions, timeoutMs = 15000): Promise<Haproxy> {
  const dir = await mkdtemp(join(tmpdir(), 'superd-haproxy-'));
  const file = join(dir, 'haproxy.cfg');
  await writeFile(file, config(o));
  const proc: ChildProcess = spawn(HAPROXY, ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.setEncoding('utf8').on('data', (c: string) => (out += c));
  proc.stderr?.setEncoding('utf8').on('data', (c: string) => (out += c));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      await within(exited, 10000, 'haproxy to exit after SIGTERM').catch(() => proc.kill('SIGKILL'));
    }
    await rm(dir, { recursive: true, force: true });
  };
  const up = await eventually(async () => proc.exitCode !== null || (await listening(o.frontendPort)), timeoutMs, 20);
  if (!up || proc.exitCode !== null || proc.pid === undefined) {
    await stop();
    throw new Error(`haproxy did not start listening on ${o.frontendHost}:${o.frontendPort} within ${timeoutMs} ms: ${out}`);
  }
  return { pid: proc.pid, output: () => out, stop };
}
