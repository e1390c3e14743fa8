// `superd status` as an operator reads it (issue 15): counters per service
// name kept across reloads and new sockets but not across a removal, the last
// error of each service and since when, the last reload, and `status NAME`.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, test } from 'node:test';
import { exchange, freePorts } from './helpers/clients.js';
import { runSuperd, serviceFile, startServices, statusCommand, type DaemonHandle, type StatusResult } from './helpers/daemon.js';

const CAT = { protocol: 'tcp', bind: '127.0.0.1', server: '/bin/cat' };
let d: DaemonHandle | undefined;
let busy: Server | undefined;
after(async () => {
  await d?.stop();
  busy?.close();
});

function status(args: string[] = []): Promise<StatusResult> {
  if (d === undefined) throw new Error('no daemon');
  return statusCommand(d.controlSocket, args);
}

test('status NAME, the last reload, the last error and since when, counters that start afresh after a removal', async () => {
  const served = await startServices({ a: CAT, b: CAT });
  d = served.d;
  await exchange(served.port.a ?? 0, 'x\n');
  await d.waitFor((r) => r.event === 'exited' && r.service === 'a', 'exited');
  const one = await status(['a']);
  assert.equal(one.code, 0);
  assert.deepEqual(one.value?.services.map((s) => s.name), ['a']);
  assert.equal(one.value?.services[0]?.accepted, 1);
  assert.equal(one.value?.services[0]?.lastError, null);
  assert.equal(one.value?.lastReload, null);
  const missing = await status(['nosuch']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no service named 'nosuch'/);

  // b moves to a busy port: its last error says so, with the time.
  const [port] = await freePorts(1);
  busy = createServer();
  await new Promise<void>((resolve) => busy?.listen(port, '127.0.0.1', () => resolve()));
  await d.writeService('b.conf', serviceFile('b', { ...CAT, port: port ?? 0 }));
  const before = Date.now();
  await d.reload();
  const st = await status();
  const b = st.value?.services.find((s) => s.name === 'b');
  assert.equal(b?.lastError?.kind, 'bind');
  assert.match(b?.lastError?.message ?? '', /EADDRINUSE/);
  assert.ok(Date.parse(b?.lastError?.time ?? '') >= before - 1000);
  assert.equal(st.value?.lastReload?.errors, 0);
  assert.ok(Date.parse(st.value?.lastReload?.time ?? '') >= before - 1000);
  const table = await runSuperd(['status', '--control-socket', d.controlSocket]);
  assert.match(table.stdout, /last reload .* with 0 error\(s\)/);
  assert.match(table.stdout, /^b: last bind error at .*EADDRINUSE/m);

  // a removed and added again starts from zero.
  await d.writeService('a.conf', '# gone\n');
  await d.reload();
  await d.writeService('a.conf', serviceFile('a', { ...CAT, port: served.port.a ?? 0 }));
  await d.reload();
  assert.equal((await status(['a'])).value?.services[0]?.accepted, 0);
});
