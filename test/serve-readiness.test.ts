// superd carries its readiness thread (a Worker: src/listen/readiness.ts) only
// while a wait service or a parked stderr pipe needs it: a daemon serving
// nowait services alone has no such thread, and one whose last wait service
// is removed by a reload gives its thread and descriptors back.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { exchange, freePorts } from './helpers/clients.js';
import { serviceFile, startDaemon, type DaemonHandle } from './helpers/daemon.js';
import { fdCount } from './helpers/proc.js';
import { eventually } from './helpers/wait.js';

const daemons: DaemonHandle[] = [];
after(async () => {
  await Promise.all(daemons.splice(0).map((d) => d.stop('SIGKILL').catch(() => undefined)));
});

const threads = async (pid: number): Promise<number> => (await readdir(`/proc/${pid}/task`)).length;

describe('the readiness thread', { timeout: 60000 }, () => {
  test('none without wait services; one while a udp wait service is configured; gone, with its descriptors, once a reload removes it', async () => {
    const [tcp, udp] = (await freePorts(2, '127.0.0.1', { udp: true })) as [number, number];
    const d = await startDaemon({ services: { 'cat.conf': serviceFile('cat', { port: tcp, bind: '127.0.0.1', server: '/bin/cat' }) } });
    daemons.push(d);
    await d.waitFor((r) => r.event === 'started', 'started');
    assert.equal((await exchange(tcp, 'x')).data.toString(), 'x');
    const idle = { threads: await threads(d.pid), fds: await fdCount(d.pid) };

    await d.writeService('wait.conf', serviceFile('wait', { protocol: 'udp', port: udp, bind: '127.0.0.1', wait: 'yes', server: '/bin/true' }));
    const added = await d.reload();
    assert.equal(added.added, 1, JSON.stringify(added));
    let now = 0;
    assert.ok(await eventually(async () => (now = await threads(d.pid)) > idle.threads, 10000), `a thread for the wait service: ${now} vs ${idle.threads}`);

    await d.removeService('wait.conf');
    const removed = await d.reload();
    assert.equal(removed.removed, 1, JSON.stringify(removed));
    assert.ok(await eventually(async () => (now = await threads(d.pid)) === idle.threads, 10000), `threads back to ${idle.threads}: ${now}`);
    assert.ok(await eventually(async () => (now = await fdCount(d.pid)) <= idle.fds, 10000), `descriptors back to ${idle.fds}: ${now}`);
    assert.equal((await exchange(tcp, 'still')).data.toString(), 'still');
    assert.deepEqual(await d.stop('SIGTERM'), { code: 0, signal: null });
    daemons.splice(daemons.indexOf(d), 1);
  });
});
