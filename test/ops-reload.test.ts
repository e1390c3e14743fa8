// Zero-drop reload, proven (issue 15): clients keep connecting while superd
// is reloaded again and again — by SIGHUP and by file edits under --watch,
// an editor's write-temp-and-rename included — and every connection is
// served with its own bytes. And a directory of 1,000 services where one
// changes: the 999 others keep their very sockets and running handlers.
import assert from 'node:assert/strict';
import { readdir, readlink, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { connectClient, exchange, freePorts, type Client } from './helpers/clients.js';
import { serviceFile, startDaemon, startServices } from './helpers/daemon.js';
import { clientLoop } from './helpers/loop.js';

const CAT = { protocol: 'tcp', bind: '127.0.0.1', server: '/bin/cat' };

test('clients connecting through 20 reloads (SIGHUP, --watch edits, write-temp-and-rename): every one served with its bytes', { timeout: 120000 }, async () => {
  const { d, port } = await startServices({ steady: CAT, other: CAT }, { args: ['--watch'] });
  const p = port.steady ?? 0;
  const loop = clientLoop(p, 4, { timeoutMs: 5000 });
  try {
    for (let round = 0; round < 20; round++) {
      const before = d.logs.filter((r) => r.event === 'reload').length;
      if (round % 3 === 0) {
        d.proc.kill('SIGHUP');
      } else if (round % 3 === 1) {
        // An edit of another service's file, seen by --watch.
        await d.writeService('other.conf', `${serviceFile('other', { ...CAT, port: port.other ?? 0 })}# edit ${round}\n`);
      } else {
        // An editor's save: write a temporary file, rename it over the original.
        const tmp = join(d.servicesDir, '.steady.conf.swp');
        await writeFile(tmp, `${serviceFile('steady', { ...CAT, port: p })}# saved ${round}\n`, { mode: 0o644 });
        await rename(tmp, join(d.servicesDir, 'steady.conf'));
      }
      await d.waitForCount((r) => r.event === 'reload', before + 1, `reload ${round}`, 10000);
    }
  } finally {
    await loop.stop();
    await d.stop();
  }
  assert.deepEqual(loop.failures, []);
  assert.ok(loop.served() >= 40, `${loop.served()} connections served during the reloads`);
  assert.equal(d.logs.filter((r) => r.event === 'reload' && Number(r.errors) > 0).length, 0);
});

/** The socket inodes superd holds, by fd (socket:[12345]). */
async function socketInodes(pid: number): Promise<Set<string>> {
  const out = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    if (target.startsWith('socket:')) out.add(target);
  }
  return out;
}

test('1,000 services, one changed: the 999 others keep their sockets and their running handlers', { timeout: 180000 }, async () => {
  const N = 1000;
  const ports = await freePorts(N);
  const lines: string[] = [];
  ports.forEach((port, i) => lines.push(serviceFile(`s${i}`, { ...CAT, port })));
  const d = await startDaemon({ services: { 'many.conf': lines.join('\n') } });
  const held: Client[] = [];
  try {
    await d.waitForCount((r) => r.event === 'listening', N, 'every service listening', 60000);
    // Handlers running on a few untouched services, across the reload.
    for (const i of [0, 1, 998]) {
      const c = await connectClient(ports[i] ?? 0);
      c.write(`held ${i}\n`);
      await c.waitForBytes(`held ${i}\n`.length, 5000);
      held.push(c);
    }
    const before = await socketInodes(d.pid);
    const changed = lines.slice();
    changed[500] = serviceFile('s500', { ...CAT, port: ports[500] ?? 0, args: '-u' });
    await d.writeService('many.conf', changed.join('\n'));
    const summary = await d.reload(30000);
    assert.deepEqual([summary.added, summary.changed, summary.removed, summary.unchanged, summary.errors], [0, 1, 0, N - 1, 0]);
    const after = await socketInodes(d.pid);
    const lost = [...before].filter((s) => !after.has(s));
    assert.deepEqual(lost, [], 'no socket of superd was closed or replaced by the reload');
    assert.equal(d.logs.filter((r) => r.event === 'listening').length, N, 'nothing was bound again');
    for (const [k, c] of held.entries()) {
      c.write('after\n');
      const want = `held ${[0, 1, 998][k]}\nafter\n`;
      assert.equal((await c.waitForBytes(want.length, 5000)).toString(), want, 'the running handler serves on');
    }
    assert.equal((await exchange(ports[500] ?? 0, 'new\n')).data.toString(), 'new\n');
  } finally {
    for (const c of held) c.destroy();
    await d.stop();
  }
});
