// Issue 14: handlers get a soft RLIMIT_NOFILE of min(1024, hard), as systemd
// gives its services, and umask 022, whatever superd was started with; superd
// keeps its own limit high (Node raised it to the hard one). Read from
// /proc/PID/limits and /proc/PID/status of handlers the real daemon started.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { afterEach, describe, test } from 'node:test';
import { holdConnection, type HeldConnection } from './helpers/clients.js';
import { startServices, type DaemonHandle, type LogRecord } from './helpers/daemon.js';
import { statusField, statusMask } from './helpers/proc.js';
import { eventually } from './helpers/wait.js';

const daemons: DaemonHandle[] = [];
const held: HeldConnection[] = [];
afterEach(async () => {
  for (const c of held.splice(0)) c.destroy();
  await Promise.all(daemons.splice(0).map((d) => d.stop()));
});

async function openFiles(pid: number): Promise<{ soft: number; hard: number }> {
  const line = (await readFile(`/proc/${pid}/limits`, 'utf8')).split('\n').find((l) => l.startsWith('Max open files')) ?? '';
  const [soft, hard] = line.replace('Max open files', '').trim().split(/\s+/).map(Number);
  return { soft: soft ?? NaN, hard: hard ?? NaN };
}

async function umaskOf(pid: number): Promise<string> {
  return (await statusField(pid, 'Umask')) ?? '?';
}

/** A daemon started under umask 077 with one held handler of `def`; the handler's pid. */
async function heldHandler(def: Record<string, string | number>, args: string[] = []): Promise<{ d: DaemonHandle; pid: number }> {
  const old = process.umask(0o077);
  let served;
  try {
    served = await startServices({ h: { bind: '127.0.0.1', ...def } }, { args });
  } finally {
    process.umask(old);
  }
  const { d, port } = served;
  daemons.push(d);
  held.push(await holdConnection(port.h ?? 0));
  const accepted = await d.waitFor((r: LogRecord) => r.event === 'accepted' && r.service === 'h', 'the handler accepted');
  return { d, pid: Number(accepted.pid) };
}

async function hasCapSysResource(): Promise<boolean> {
  return (((await statusMask('self', 'CapEff')) >> 24n) & 1n) === 1n;
}

const hardOfOurs = async (): Promise<number> => (await openFiles(process.pid)).hard;

describe('what a handler inherits', { timeout: 120000 }, () => {
  test('soft open files min(1024, hard), hard unchanged, umask 022; superd keeps its own limit high', async (t) => {
    const hard = await hardOfOurs();
    if (hard <= 1024) return t.skip(`the hard limit here is ${hard}: handlers inherit at most 1024 anyway`);
    const { d, pid } = await heldHandler({ server: '/bin/cat' });
    assert.deepEqual(await openFiles(pid), { soft: 1024, hard });
    assert.equal(await umaskOf(pid), '0022');
    assert.equal(await umaskOf(d.pid), '0022', "superd's own umask is the handlers' (its files get explicit modes)");
    const own = await openFiles(d.pid);
    assert.equal(own.hard, hard);
    assert.ok(own.soft >= hard - 1, `superd keeps ${own.soft} of ${hard}`);
  });

  test('a handler that raises its own limit at start (as Go, Node, the JVM do) keeps what it set', async (t) => {
    const hard = await hardOfOurs();
    if (hard <= 1024) return t.skip(`the hard limit here is ${hard}`);
    const { pid } = await heldHandler({ server: '/bin/sh', args: `-c 'ulimit -Sn ${hard} && exec /bin/cat'` });
    // Whichever came first, superd's prlimit or the handler's own ulimit, it ends at the hard limit and stays there.
    assert.ok(await eventually(async () => (await openFiles(pid)).soft === hard, 15000), `soft ${(await openFiles(pid)).soft}`);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await openFiles(pid)).soft, hard);
  });

  test('the child_process path (--spawner node) too', async (t) => {
    const hard = await hardOfOurs();
    if (hard <= 1024) return t.skip(`the hard limit here is ${hard}`);
    const { pid } = await heldHandler({ server: '/bin/cat' }, ['--spawner', 'node']);
    assert.deepEqual(await openFiles(pid), { soft: 1024, hard });
    assert.equal(await umaskOf(pid), '0022');
  });

  test('without CAP_SYS_RESOURCE, a handler of another user keeps superd\'s limit, as the started line says', async (t) => {
    if (process.getuid?.() !== 0 || !existsSync('/usr/bin/setpriv')) return t.skip('needs root and setpriv: switches the handler to nobody');
    if (await hasCapSysResource()) return t.skip('root with CAP_SYS_RESOURCE: the next test checks the switched handler gets 1024');
    const hard = await hardOfOurs();
    if (hard <= 1024) return t.skip(`the hard limit here is ${hard}`);
    const { pid, d } = await heldHandler({ server: '/bin/cat', user: 'nobody' });
    assert.ok(await eventually(async () => (await readFile(`/proc/${pid}/comm`, 'utf8')).trim() === 'cat', 15000), 'setpriv has exec-ed cat');
    const started = d.logs.find((r) => r.event === 'started');
    assert.match(String(started?.handler_limits), /not for other users: no CAP_SYS_RESOURCE/);
    assert.deepEqual(await openFiles(pid), await openFiles(d.pid), "superd's own limit, not 1024 for some and not for others");
  });

  test('a handler of another user, started through setpriv', async (t) => {
    if (process.getuid?.() !== 0 || !existsSync('/usr/bin/setpriv')) return t.skip('needs root and setpriv: switches the handler to nobody');
    if (!(await hasCapSysResource())) return t.skip("root without CAP_SYS_RESOURCE (a container dropped it): a switched handler's limit cannot be changed");
    const hard = await hardOfOurs();
    if (hard <= 1024) return t.skip(`the hard limit here is ${hard}`);
    const { pid } = await heldHandler({ server: '/bin/cat', user: 'nobody' });
    // The pid is setpriv's until it execs cat: the limit set on it carries over.
    assert.ok(await eventually(async () => (await readFile(`/proc/${pid}/comm`, 'utf8')).trim() === 'cat', 15000), 'setpriv has exec-ed cat');
    assert.deepEqual(await openFiles(pid), { soft: 1024, hard });
    assert.equal(await umaskOf(pid), '0022');
  });
});
