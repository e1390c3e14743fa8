// IPv4 and IPv6 side by side (SPEC §2 protocol): `tcp`/`udp` without `bind`
// serve both families on one socket and show IPv4 clients as plain IPv4
// (environment, logs); `tcp4`/`udp4` and `tcp6`/`udp6` refuse the other one.
// The services listen on every address, but every client here is on loopback.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { exchange, hasIPv6Loopback, tryConnect } from './helpers/clients.js';
import { startServices, type DaemonHandle } from './helpers/daemon.js';
import { udpExchange } from './helpers/udp.js';

const ENV = { server: '/bin/sh', args: `-c 'echo "$PROTO $TCPREMOTEIP $REMOTE_ADDR $TCPLOCALIP"'` };

describe('serve: IPv4 and IPv6', async () => {
  const v6 = await hasIPv6Loopback();
  const skip = v6 ? false : 'this host has no IPv6 loopback (::1)';
  let d: DaemonHandle;
  let port: Record<string, number>;
  const p = (name: string): number => port[name] ?? assert.fail(`no port for ${name}`);

  before(async () => {
    if (!v6) return;
    ({ d, port } = await startServices({
      dual: { protocol: 'tcp', ...ENV },
      only4: { protocol: 'tcp4', ...ENV },
      only6: { protocol: 'tcp6', ...ENV },
      udual: { protocol: 'udp', builtin: 'echo' },
      uonly4: { protocol: 'udp4', builtin: 'echo' },
      uonly6: { protocol: 'udp6', builtin: 'echo' },
    }));
  });
  after(async () => {
    await d?.stop();
  });

  test('tcp (dual stack): an IPv4 client is plain IPv4 in the environment and the log; IPv6 is IPv6', { skip }, async () => {
    const four = await exchange(p('dual'), '', { host: '127.0.0.1' });
    assert.equal(four.data.toString(), 'TCP 127.0.0.1 127.0.0.1 127.0.0.1\n');
    const six = await exchange(p('dual'), '', { host: '::1' });
    assert.equal(six.data.toString(), 'TCP ::1 ::1 ::1\n');
    const accepted = await d.waitForCount((r) => r.event === 'accepted' && r.service === 'dual', 2, 'two accepted lines');
    const remotes = accepted.map((r) => r.remote);
    assert.deepEqual(remotes.sort(), ['127.0.0.1', '::1']);
    assert.ok(!d.logs.some((r) => String(r.remote ?? '').startsWith('::ffff:')), 'no mapped addresses in the log');
  });

  test('tcp4 serves IPv4 only and tcp6 IPv6 only', { skip }, async () => {
    assert.equal((await exchange(p('only4'), '', { host: '127.0.0.1' })).data.toString(), 'TCP 127.0.0.1 127.0.0.1 127.0.0.1\n');
    assert.equal(await tryConnect(p('only4'), '::1'), 'ECONNREFUSED');
    assert.equal((await exchange(p('only6'), '', { host: '::1' })).data.toString(), 'TCP ::1 ::1 ::1\n');
    assert.equal(await tryConnect(p('only6'), '127.0.0.1'), 'ECONNREFUSED');
  });

  test('udp (dual stack) answers both families, logging IPv4 clients as plain IPv4', { skip }, async () => {
    assert.equal((await udpExchange(p('udual'), Buffer.from('v4'), { host: '127.0.0.1' }))?.toString(), 'v4');
    assert.equal((await udpExchange(p('udual'), Buffer.from('v6'), { host: '::1' }))?.toString(), 'v6');
    const answered = await d.waitForCount((r) => r.event === 'answered' && r.service === 'udual', 2, 'two answered lines');
    const remotes = answered.map((r) => r.remote);
    assert.deepEqual(remotes.sort(), ['127.0.0.1', '::1']);
  });

  test('udp4 answers IPv4 only and udp6 IPv6 only', { skip }, async () => {
    assert.equal((await udpExchange(p('uonly4'), Buffer.from('a'), { host: '127.0.0.1' }))?.toString(), 'a');
    assert.equal(await udpExchange(p('uonly4'), Buffer.from('a'), { host: '::1', timeoutMs: 300 }), null);
    assert.equal((await udpExchange(p('uonly6'), Buffer.from('b'), { host: '::1' }))?.toString(), 'b');
    assert.equal(await udpExchange(p('uonly6'), Buffer.from('b'), { host: '127.0.0.1', timeoutMs: 300 }), null);
  });
});
