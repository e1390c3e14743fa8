// Many connections: every one is served with its own bytes, every handler is
// reaped (SPEC §5: never a zombie), and superd's descriptors stay flat.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createConnection } from 'node:net';
import { exchange } from './helpers/clients.js';
import { startServices, type DaemonHandle, type LogRecord } from './helpers/daemon.js';
import { childrenOf, fdCount, notRoot } from './helpers/proc.js';
import { eventually, pool } from './helpers/wait.js';

/** Connects and resets at once (RST), without waiting for anything from the server. */
function connectAndReset(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    const timer = setTimeout(() => {
      s.destroy();
      resolve();
    }, 3000);
    s.on('connect', () => {
      s.resetAndDestroy();
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
    s.on('error', () => undefined);
  });
}

/** Only root may start a handler as another user: without it superd refuses such a service (needs_root). */
const NOBODY_SKIP = notRoot('only root may start a handler as nobody');

describe('serve: load', { timeout: 360000 }, () => {
  let d: DaemonHandle | undefined;
  let catPort = 0;
  let nobodyPort = 0;

  before(async () => {
    const served = await startServices({
      cat: { bind: '127.0.0.1', server: '/bin/cat' },
      ...(NOBODY_SKIP === false ? { catnobody: { bind: '127.0.0.1', server: '/bin/cat', user: 'nobody' } } : {}),
    });
    d = served.d;
    catPort = served.port.cat ?? 0;
    nobodyPort = served.port.catnobody ?? 0;
  });
  after(async () => {
    await d?.stop();
  });

  /** Waits until every accepted handler of `service` (at least expectedAccepted of them) has an exited record, and returns the accepted records. */
  async function allReaped(service: string, expectedAccepted: number | null, timeoutMs: number): Promise<LogRecord[]> {
    const accepted = (): LogRecord[] => d!.logs.filter((r) => r.event === 'accepted' && r.service === service);
    if (expectedAccepted !== null) await d!.waitForCount((r) => r.event === 'accepted' && r.service === service, expectedAccepted, `${expectedAccepted} accepted for ${service}`, timeoutMs);
    const ok = await eventually(() => {
      const exitedPids = new Set(d!.logs.filter((r) => r.event === 'exited' && r.service === service).map((r) => r.pid));
      return accepted().every((a) => exitedPids.has(a.pid));
    }, timeoutMs);
    const exitedPids = new Set(d!.logs.filter((r) => r.event === 'exited' && r.service === service).map((r) => r.pid));
    const missing = accepted().filter((a) => !exitedPids.has(a.pid)).map((a) => a.pid);
    assert.ok(ok, `${missing.length} handlers of ${service} have no exited record: ${missing.slice(0, 20).join(' ')}`);
    return accepted();
  }

  async function noChildren(): Promise<void> {
    let last: { pid: number; state: string }[] = [];
    const ok = await eventually(async () => {
      last = await childrenOf(d!.pid);
      return last.length === 0;
    }, 15000);
    assert.ok(ok, `superd still has children: ${JSON.stringify(last)} (Z = zombie)`);
  }

  async function fdsBackTo(baseline: number): Promise<void> {
    let now = -1;
    const ok = await eventually(async () => {
      now = await fdCount(d!.pid);
      return now <= baseline;
    }, 15000, 50);
    assert.ok(ok, `superd has ${now} open descriptors, ${baseline} before the burst`);
  }

  const acceptedOf = (service: string): number => d!.logs.filter((r) => r.event === 'accepted' && r.service === service).length;

  async function baselineAfterWarmUp(port: number, service: string): Promise<number> {
    const before = acceptedOf(service);
    const r = await exchange(port, 'warm-up');
    assert.equal(r.data.toString(), 'warm-up');
    await allReaped(service, before + 1, 15000);
    await noChildren();
    // Let anything the warm-up left behind (its stderr pipe) close.
    await new Promise((res) => setTimeout(res, 300));
    return fdCount(d!.pid);
  }

  test('1,000 connections to /bin/cat, 12 in flight: each echoes its own bytes; all reaped; fds flat', { timeout: 150000 }, async () => {
    // Counted from here: the other test's resets may have reached cat first.
    const exitedBefore = d!.logs.filter((r) => r.event === 'exited' && r.service === 'cat').length;
    const baseline = await baselineAfterWarmUp(catPort, 'cat');
    const before = acceptedOf('cat');

    const failures: string[] = [];
    // How long the 1,000 take is measured by npm run bench, not asserted here.
    await pool(1000, 12, async (i) => {
      const payload = Buffer.concat([Buffer.from(`conn ${i}:`), randomBytes(1 + ((i * 7919) % 4096))]);
      try {
        const r = await exchange(catPort, payload, { timeoutMs: 10000 });
        if (r.how !== 'end' || !r.data.equals(payload)) failures.push(`#${i}: ${r.how}, ${r.data.length}/${payload.length} bytes`);
      } catch (err) {
        failures.push(`#${i}: ${(err as Error).message}`);
      }
    });
    assert.deepEqual(failures.slice(0, 10), [], `${failures.length} of 1000 connections failed`);

    const accepted = (await allReaped('cat', before + 1000, 30000)).slice(before);
    assert.equal(accepted.length, 1000);
    assert.equal(new Set(accepted.map((a) => a.pid)).size, 1000, 'every handler has its own pid');
    const exited = d!.logs.filter((r) => r.event === 'exited' && r.service === 'cat').slice(exitedBefore);
    assert.equal(exited.length, 1001, 'the warm-up and the 1,000');
    assert.ok(exited.every((e) => e.code === 0 && e.signal === null), 'every cat exited 0');
    assert.equal(d!.logs.filter((r) => r.event === 'spawn_failed' || r.event === 'refused').length, 0);
    await noChildren();
    await fdsBackTo(baseline);
  });

  test('resets and a handler as another user (300 connections, some reset at once): all reaped, fds flat', { timeout: 150000, skip: NOBODY_SKIP }, async () => {
    const baseline = await baselineAfterWarmUp(nobodyPort, 'catnobody');
    const before = acceptedOf('catnobody');
    const failures: string[] = [];
    await pool(300, 8, async (i) => {
      if (i % 5 === 0) {
        await connectAndReset(nobodyPort);
        await connectAndReset(catPort);
        return;
      }
      const payload = Buffer.from(`nobody ${i} `.repeat(1 + (i % 50)));
      try {
        const r = await exchange(nobodyPort, payload, { timeoutMs: 10000 });
        if (r.how !== 'end' || !r.data.equals(payload)) failures.push(`#${i}: ${r.how}, ${r.data.length}/${payload.length} bytes`);
      } catch (err) {
        failures.push(`#${i}: ${(err as Error).message}`);
      }
    });
    assert.deepEqual(failures.slice(0, 10), [], `${failures.length} of 240 echo connections failed`);
    // Reset connections may or may not have got a handler; every one that did is reaped.
    const served = await allReaped('catnobody', before + 240, 30000);
    assert.ok(served.length >= before + 240);
    await allReaped('cat', null, 30000);
    await noChildren();
    await fdsBackTo(baseline);
    // And superd still serves.
    const r = await exchange(catPort, 'after the storm');
    assert.equal(r.data.toString(), 'after the storm');
  });
});
