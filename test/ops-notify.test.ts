// systemd's notify protocol (Type=notify): READY=1 once everything listens,
// RELOADING=1 with MONOTONIC_USEC then READY=1 around a reload, STOPPING=1 at
// shutdown, all on the unix datagram socket NOTIFY_SOCKET names. The test
// plays systemd with a datagram socket of its own (made through superd's own
// native layer, src/sys: Node has none for unix datagrams).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AF_UNIX, MSG_DONTWAIT, O_CLOEXEC, SOCK_DGRAM } from '../src/sys/constants.js';
import { isSysError } from '../src/sys/errors.js';
import { loadSys } from '../src/sys/load.js';
import { unixAddress } from '../src/sys/sockaddr.js';
import { freePorts } from './helpers/clients.js';
import { serviceFile, startDaemon, type DaemonHandle } from './helpers/daemon.js';
import { eventually } from './helpers/wait.js';

/** A bound unix datagram socket, read without blocking. */
function datagramReceiver(path: string): { messages: string[]; poll(): void; close(): void } {
  const sys = loadSys();
  if (isSysError(sys)) assert.fail(`loadSys: ${sys.message}`);
  const fd = sys.socket(AF_UNIX, SOCK_DGRAM | O_CLOEXEC, 0);
  assert.ok(fd >= 0, `socket: errno ${sys.errno()}`);
  const { addr, length } = unixAddress(Buffer.from(path));
  assert.equal(sys.bind(fd, addr, length), 0, `bind the notify socket: errno ${sys.errno()}`);
  const messages: string[] = [];
  const buf = Buffer.alloc(4096);
  return {
    messages,
    poll: () => {
      for (;;) {
        const n = sys.recvfrom(fd, buf, buf.length, MSG_DONTWAIT, null, null);
        if (n <= 0) return;
        messages.push(buf.subarray(0, n).toString());
      }
    },
    close: () => void sys.close(fd),
  };
}

test('Type=notify: READY=1 when up, RELOADING=1 (MONOTONIC_USEC) then READY=1 around a reload, STOPPING=1', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'superd-notify-'));
  const path = join(dir, 'notify.sock');
  let closeReceiver = (): void => undefined;
  let d: DaemonHandle | undefined;
  try {
    const receiver = datagramReceiver(path);
    closeReceiver = receiver.close;
    const [port] = await freePorts(1);
    d = await startDaemon({
      services: { 'a.conf': serviceFile('a', { protocol: 'tcp', bind: '127.0.0.1', port: port ?? 0, server: '/bin/cat' }) },
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NOTIFY_SOCKET: path },
    });
    const seen = async (pred: (m: string) => boolean, what: string): Promise<string> => {
      assert.ok(await eventually(() => (receiver.poll(), receiver.messages.some(pred)), 15000), `${what}; got ${JSON.stringify(receiver.messages)}`);
      return receiver.messages.find(pred) ?? '';
    };
    assert.match(await seen((m) => m.startsWith('READY=1'), 'READY=1 at start'), /STATUS=serving 1 services/);
    assert.ok(d.logs.some((r) => r.event === 'listening'), 'ready only once listening');
    receiver.messages.splice(0);
    // Node's hrtime is CLOCK_MONOTONIC too: the reload's time lies between these two.
    const asked = process.hrtime.bigint() / 1000n;
    await d.reload();
    const reloading = await seen((m) => m.startsWith('RELOADING=1'), 'RELOADING=1');
    const usec = BigInt(/MONOTONIC_USEC=(\d+)/.exec(reloading)?.[1] ?? '0');
    const now = process.hrtime.bigint() / 1000n;
    assert.ok(usec >= asked && usec <= now, `MONOTONIC_USEC ${usec} is CLOCK_MONOTONIC, between the SIGHUP (${asked}) and now (${now})`);
    await seen((m) => m.startsWith('READY=1'), 'READY=1 after the reload');
    assert.ok(receiver.messages.findIndex((m) => m.startsWith('RELOADING=1')) < receiver.messages.findIndex((m) => m.startsWith('READY=1')));
    await d.stop();
    await seen((m) => m === 'STOPPING=1', 'STOPPING=1');
  } finally {
    await d?.stop();
    closeReceiver();
    await rm(dir, { recursive: true, force: true });
  }
});
