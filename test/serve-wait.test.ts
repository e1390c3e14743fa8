// Wait services (SPEC §3): the socket itself goes to one handler, superd
// neither reads nor accepts on it while the handler runs, and watches it again
// afterwards. Real programs: in.tftpd (tftpd-hpa) over udp with a real tftp
// client; a small handler that accepts on a tcp listening socket it got as
// fd 0; and one that exits without reading, which must not make superd spin.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { exchange } from './helpers/clients.js';
import { startServices, type DaemonHandle, type LogRecord } from './helpers/daemon.js';
import { runProgram } from './helpers/proc.js';
import { udpExchange } from './helpers/udp.js';
import { eventually } from './helpers/wait.js';

const isRoot = process.getuid?.() === 0;
const TFTPD = '/usr/sbin/in.tftpd';
const TFTP = '/usr/bin/tftp';

/**
 * A tcp wait handler: accepts on the listening socket it got as fd 0, answers
 * each client with its own pid and a running count, and exits once idle.
 */
const ACCEPTING_HANDLER = `
const net = require('node:net');
let served = 0;
let idle = null;
const arm = () => { clearTimeout(idle); idle = setTimeout(() => process.exit(0), Number(process.env.IDLE_MS || 1500)); };
const server = net.createServer((c) => { served += 1; arm(); c.end(process.pid + ' ' + served + ' ' + process.env.PROTO + '\\n'); });
server.listen({ fd: 0 }, arm);
`;

describe('serve: wait services', () => {
  let d: DaemonHandle;
  let port: Record<string, number>;
  let scratch: string;
  let tftpRoot: string;
  const p = (name: string): number => port[name] ?? assert.fail(`no port for ${name}`);
  const exitedOf = (service: string): LogRecord[] => d.logs.filter((r) => r.event === 'exited' && r.service === service);
  const acceptedOf = (service: string): LogRecord[] => d.logs.filter((r) => r.event === 'accepted' && r.service === service);

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'superd-wait-'));
    await chmod(scratch, 0o755);
    const script = join(scratch, 'accepting.cjs');
    await writeFile(script, ACCEPTING_HANDLER, { mode: 0o644 });
    tftpRoot = join(scratch, 'tftp');
    await mkdir(tftpRoot, { mode: 0o755 });
    for (const [name, size] of [['a.bin', 1], ['b.bin', 70_000], ['c.bin', 512 * 3]] as const) {
      const data = Buffer.alloc(size);
      for (let i = 0; i < size; i++) data[i] = (i * 31 + name.charCodeAt(0)) & 0xff;
      await writeFile(join(tftpRoot, name), data, { mode: 0o644 });
    }
    const services: Record<string, Record<string, string>> = {
      tcpwait: { protocol: 'tcp', bind: '127.0.0.1', wait: 'yes', server: process.execPath, args: script, env: 'IDLE_MS=1500' },
      // Exits without reading its datagram: superd must back off, not spin.
      lazy: { protocol: 'udp', bind: '127.0.0.1', server: '/bin/true' },
      // Reads one datagram (head -c 1 reads one whole datagram) and shows its environment.
      udpenv: { protocol: 'udp', bind: '127.0.0.1', server: '/bin/sh', args: `-c 'env >&2; head -c 1 >/dev/null'` },
      echo: { protocol: 'udp', bind: '127.0.0.1', builtin: 'echo' },
    };
    if (isRoot && existsSync(TFTPD)) {
      // -t 2: it serves later requests itself for 2 s after the last one, then exits.
      services.tftp = { protocol: 'udp', bind: '127.0.0.1', server: TFTPD, args: `-s ${tftpRoot} -t 2` };
    }
    ({ d, port } = await startServices(services));
  });
  after(async () => {
    await d?.stop();
    await rm(scratch, { recursive: true, force: true });
  });

  test('tcp wait: one handler gets the listening socket and accepts every client itself', async () => {
    const answers: string[] = [];
    for (let i = 0; i < 3; i++) answers.push((await exchange(p('tcpwait'), '', { timeoutMs: 5000 })).data.toString().trim());
    const [pid, , proto] = (answers[0] ?? '').split(' ');
    assert.deepEqual(answers, [`${pid} 1 TCP`, `${pid} 2 TCP`, `${pid} 3 TCP`], 'one handler served all three');
    assert.equal(acceptedOf('tcpwait').length, 1);
    assert.equal(acceptedOf('tcpwait')[0]?.remote, undefined, 'a wait handler has no one remote end');
    assert.equal(proto, 'TCP');
    // Once it has exited on its own, superd watches the socket again: a new handler.
    await d.waitFor((r) => r.event === 'exited' && r.service === 'tcpwait', 'tcpwait handler exits when idle');
    const again = (await exchange(p('tcpwait'), '', { timeoutMs: 5000 })).data.toString().trim();
    assert.match(again, / 1 TCP$/);
    assert.notEqual(again.split(' ')[0], pid, 'a new handler after the first exited');
  });

  test('udp wait: the handler reads the datagram itself and sees PROTO=UDP and the local end only', async () => {
    assert.equal(await udpExchange(p('udpenv'), Buffer.from('x'), { timeoutMs: 300 }), null);
    await d.waitFor((r) => r.event === 'exited' && r.service === 'udpenv', 'udpenv exited');
    await d.waitFor((r) => r.event === 'stderr' && r.service === 'udpenv' && r.message === 'PROTO=UDP', 'the handler environment');
    const env = d.logs.filter((r) => r.event === 'stderr' && r.service === 'udpenv').map((r) => String(r.message));
    assert.ok(env.includes('PROTO=UDP'), env.join('\n'));
    assert.ok(env.includes('UDPLOCALIP=127.0.0.1'), env.join('\n'));
    assert.ok(env.includes(`UDPLOCALPORT=${p('udpenv')}`), env.join('\n'));
    assert.ok(!env.some((l) => /^(TCP|REMOTE_)/.test(l)), 'no remote variables');
    // It read its datagram: the next one starts a fresh handler, with no back-off.
    await udpExchange(p('udpenv'), Buffer.from('y'), { timeoutMs: 300 });
    assert.ok(await eventually(() => exitedOf('udpenv').length >= 2, 15000));
    assert.equal(d.logs.filter((r) => r.event === 'wait_backoff' && r.service === 'udpenv').length, 0);
  });

  test('a wait handler that exits without reading: superd backs off instead of spinning, and serves the rest', async () => {
    await udpExchange(p('lazy'), Buffer.from('never read'), { timeoutMs: 100 });
    // Judged by superd's own log, not by how many handlers a few seconds
    // hold: each back-off is announced, the next handler starts no sooner,
    // and the delay grows. How much CPU superd spends meanwhile is for npm
    // run bench to measure.
    const backoffs = await d.waitForCount((r) => r.event === 'wait_backoff' && r.service === 'lazy', 2, 'two back-offs', 30000);
    const [first, second] = backoffs as [LogRecord, LogRecord];
    assert.ok(Number(first.retry_in) > 0, 'the back-off is logged with its delay');
    assert.ok(Number(second.retry_in) > Number(first.retry_in), `the delay grows: ${String(first.retry_in)} s, then ${String(second.retry_in)} s`);
    const next = d.logs.slice(d.logs.indexOf(first)).find((r) => r.event === 'accepted' && r.service === 'lazy');
    assert.ok(next !== undefined, 'a handler started between the two back-offs');
    const waited = Date.parse(next.time) - Date.parse(first.time);
    assert.ok(waited >= Number(first.retry_in) * 1000, `the next handler started ${waited} ms after a back-off of ${String(first.retry_in)} s`);
    assert.ok(acceptedOf('lazy').length >= 2, 'the handler was started');
    assert.equal((await udpExchange(p('echo'), Buffer.from('alive')))?.toString(), 'alive');
  });

  test('udp wait with the real in.tftpd: three transfers in a row, byte-exact', {
    skip: !isRoot ? 'in.tftpd needs root (it chroots and drops to nobody)' : !existsSync(TFTPD) || !existsSync(TFTP) ? 'tftpd-hpa/tftp-hpa not installed (.ci/run installs them)' : false,
  }, async () => {
    const out = await mkdtemp(join(tmpdir(), 'superd-tftp-get-'));
    try {
      for (const name of ['a.bin', 'b.bin', 'c.bin']) {
        const dest = join(out, name);
        const r = await runProgram(TFTP, ['-m', 'binary', '127.0.0.1', String(p('tftp')), '-c', 'get', name, dest], { timeoutMs: 15000 });
        assert.equal(r.code, 0, `tftp get ${name}: ${r.stdout} ${r.stderr}`);
        assert.ok((await readFile(dest)).equals(await readFile(join(tftpRoot, name))), `${name} arrived byte-exact`);
      }
      // in.tftpd serves later requests itself until idle: at least one handler, never one per datagram.
      // Its `accepted` line may reach the log after the transfers it served are over: waited for.
      await d.waitFor((r) => r.event === 'accepted' && r.service === 'tftp', 'in.tftpd accepted', 10000);
      const starts = acceptedOf('tftp').length;
      assert.ok(starts >= 1 && starts <= 3, `${starts} in.tftpd started`);
      await d.waitFor((r) => r.event === 'exited' && r.service === 'tftp', 'in.tftpd exits after its idle timeout', 10000);
      const dest = join(out, 'again.bin');
      const r = await runProgram(TFTP, ['-m', 'binary', '127.0.0.1', String(p('tftp')), '-c', 'get', 'b.bin', dest], { timeoutMs: 15000 });
      assert.equal(r.code, 0, `tftp get after the handler exited: ${r.stderr}`);
      assert.ok((await readFile(dest)).equals(await readFile(join(tftpRoot, 'b.bin'))));
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
