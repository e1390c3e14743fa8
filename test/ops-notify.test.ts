// systemd's notify protocol (Type=notify): READY=1 once everything listens,
// RELOADING=1 with MONOTONIC_USEC then READY=1 around a reload, STOPPING=1 at
// shutdown, all on the unix datagram socket NOTIFY_SOCKET names. The test
// plays systemd with a datagram socket of its own (made through koffi: Node
// has none for unix datagrams).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePorts } from './helpers/clients.js';
import { serviceFile, startDaemon, type DaemonHandle } from './helpers/daemon.js';
import { eventually } from './helpers/wait.js';

interface KoffiFn {
  (...args: unknown[]): unknown;
}
interface Koffi {
  load(name: string): { func(sig: string): KoffiFn };
}

/** A bound unix datagram socket, read without blocking. */
function datagramReceiver(path: string): { messages: string[]; poll(): void; close(): void } {
  const koffi = createRequire(import.meta.url)('koffi') as Koffi;
  const libc = koffi.load('libc.so.6');
  const socket = libc.func('int socket(int, int, int)');
  const bind = libc.func('int bind(int, const void *, uint32_t)');
  const recv = libc.func('long recv(int, void *, unsigned long, int)');
  const close = libc.func('int close(int)');
  const fd = socket(1 /* AF_UNIX */, 2 /* SOCK_DGRAM */ | 0o2000000, 0) as number;
  const addr = Buffer.alloc(110);
  addr.writeUInt16LE(1, 0);
  Buffer.from(path).copy(addr, 2);
  assert.equal(bind(fd, addr, 2 + Buffer.byteLength(path) + 1), 0, 'bind the notify socket');
  const messages: string[] = [];
  const buf = Buffer.alloc(4096);
  return {
    messages,
    poll: () => {
      for (;;) {
        const n = Number(recv(fd, buf, buf.length, 0x40 /* MSG_DONTWAIT */));
        if (n <= 0) return;
        messages.push(buf.subarray(0, n).toString());
      }
    },
    close: () => void close(fd),
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
      assert.ok(await eventually(() => (receiver.poll(), receiver.messages.some(pred)), 5000), `${what}; got ${JSON.stringify(receiver.messages)}`);
      return receiver.messages.find(pred) ?? '';
    };
    assert.match(await seen((m) => m.startsWith('READY=1'), 'READY=1 at start'), /STATUS=serving 1 services/);
    assert.ok(d.logs.some((r) => r.event === 'listening'), 'ready only once listening');
    receiver.messages.splice(0);
    await d.reload();
    const reloading = await seen((m) => m.startsWith('RELOADING=1'), 'RELOADING=1');
    const usec = BigInt(/MONOTONIC_USEC=(\d+)/.exec(reloading)?.[1] ?? '0');
    const now = process.hrtime.bigint() / 1000n;
    assert.ok(usec > 0n && usec <= now && now - usec < 10_000_000n, `MONOTONIC_USEC ${usec} is CLOCK_MONOTONIC (now ${now})`);
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
