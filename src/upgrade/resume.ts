// The new image's side of an upgrade in place: at start (commands/run.ts) it
// reads the state the old image left in a memfd (exec.ts), unsets
// SUPERD_UPGRADE_STATE at once (no handler ever sees it, not even through
// pass_env), and takes over: the listening sockets go to the inherited pool
// named after their services (listen/inherited.ts: nothing passed is bound
// again), the control socket is served as it was, the old handlers are
// counted, reaped and logged by their services (or as orphans), queued
// connections wait for a slot, builtins go on serving theirs, and the
// figures go on. Then the `superd upgrade` client is answered. A state that
// cannot be read is logged, and superd starts from scratch with what it has.
import { closeSync, fstatSync, readdirSync, readlinkSync, readSync } from 'node:fs';
import type { Server } from 'node:net';
import { adoptControl, answerPassedClient, type ControlError, type ControlHandlers } from '../control/server.js';
import type { UpgradeReport } from '../control/status.js';
import { fromAcceptedFd } from '../listen/accepted.js';
import { proxiedConnection } from '../proxy/connection.js';
import type { Connection } from '../listen/connection.js';
import { inheritedSockets, type Passed } from '../listen/inherited.js';
import type { LogFields, Logger } from '../log/types.js';
import type { ServiceSet } from '../service/set.js';
import type { PassedBuiltinOf } from './passed.js';
import { unguardedMs } from '../signals.js';
import type { Spawner } from '../spawn/types.js';
import { closeDescriptor } from '../sys/sockets.js';
import { STATE_MEMFD_NAME } from './exec.js';
import { OrphanHandlers } from './orphans.js';
import { decodeState, STATE_VARIABLE, type PassedConnection, type UpgradeState } from './state.js';
import { superdVersion } from './version.js';

/** Far more than any state: a memfd holding more is not ours. */
const MAX_STATE_BYTES = 64 * 1024 * 1024;

/** The state an upgrade passed, or why it cannot be had; null when this start is no upgrade. The variable is gone either way. */
export function takeUpgradeState(env: NodeJS.ProcessEnv): UpgradeState | Error | null {
  const value = env[STATE_VARIABLE];
  delete env[STATE_VARIABLE];
  if (value === undefined) return null;
  if (!/^[0-9]+$/.test(value) || Number(value) < 3) return new Error(`${STATE_VARIABLE}=${value.slice(0, 40)} names no descriptor superd passes`);
  const fd = Number(value);
  let link: string;
  try {
    link = readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return new Error(`${STATE_VARIABLE} names descriptor ${fd}, which is not open`);
  }
  // Anything else at that number is not ours to read, nor to close.
  if (!link.startsWith(`/memfd:${STATE_MEMFD_NAME}`)) return new Error(`${STATE_VARIABLE} names descriptor ${fd}, which is ${link}, not an upgrade's state: left alone`);
  try {
    const size = fstatSync(fd).size;
    if (size > MAX_STATE_BYTES) return new Error(`the upgrade state is ${size} bytes: not superd's`);
    const text = Buffer.alloc(size);
    for (let at = 0; at < size; ) {
      const n = readSync(fd, text, at, size - at, at);
      if (n === 0) break;
      at += n;
    }
    return decodeState(text.toString('utf8'));
  } catch (err) {
    return new Error(`cannot read the upgrade state: ${(err as Error).message}`);
  } finally {
    closeSync(fd);
  }
}

/**
 * A state that could not be read: the sockets the old image left open are
 * still this process's. They are taken as systemd's would be (by address,
 * never bound twice; listen/inherited.ts), so that every service that is
 * still there serves on; the rest (connections, a control socket) is closed.
 * Pipes and Node's own descriptors are left alone.
 */
export function salvage(): Passed {
  const fds: number[] = [];
  for (const name of readdirSync('/proc/self/fd')) {
    const fd = Number(name);
    if (fd < 3) continue;
    let link = '';
    try {
      link = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    if (link.startsWith('socket:')) fds.push(fd);
  }
  return { fds, names: fds.map(() => 'unknown') };
}

/** Before the first load: the sockets into the inherited pool, the figures, handlers, queued and builtin connections to the services. */
export function takeOver(state: UpgradeState, services: ServiceSet, logger: Logger): void {
  inheritedSockets.adoptUpgrade(state.listeners, state.inherited, logger);
  const queued: { service: string; conn: Connection; header: boolean }[] = [];
  for (const q of state.queued) {
    const conn = connection(q);
    if (conn !== null) queued.push({ service: q.service, conn, header: q.header });
  }
  const builtins: PassedBuiltinOf[] = [];
  for (const passed of state.builtins) {
    const conn = connection(passed);
    if (conn !== null) builtins.push({ conn, passed });
  }
  services.restore(state.stats, state.handlers, queued, builtins);
}

/** A connection the state names, as the old image saw it; null when Node will not take its descriptor (then closed). */
function connection(c: Omit<PassedConnection, 'header'>): Connection | null {
  const conn = fromAcceptedFd(c.fd, closeDescriptor, c.proto, c.proto === 'UNIX' ? c.local : null);
  // Its peer is the balancer; the client is the one its header named.
  return conn === null || c.balancer === null ? conn : proxiedConnection(conn, { address: c.remoteAddress, port: c.remotePort });
}

/** The control socket as the old image served it; null when it passed none (the caller places one as at any start). */
export async function takeControl(state: UpgradeState, handlers: ControlHandlers): Promise<Server | ControlError | null> {
  const c = state.control;
  return c === null ? null : adoptControl(c.fd, c.path, c.ownFile, handlers);
}

/** After the first load: the handlers and queued connections of services gone since are orphans, or closed. */
export function settle(services: ServiceSet, spawner: Spawner, logger: Logger): void {
  const orphans = new OrphanHandlers(spawner, logger);
  const left = services.unclaimed(orphans);
  for (const h of left.handlers) orphans.adopt(h);
  // A queued connection whose service is gone is closed, as a reload that removes a service closes its queue.
  for (const q of left.queued) q.conn.close();
  // So is a builtin's connection: no runtime of its service is there to serve it, count it and log its end.
  for (const b of left.builtins) b.conn.close();
}

/** What the `upgraded` line says besides what `started` would. */
export function upgradedFields(state: UpgradeState): LogFields {
  return { version: superdVersion(), was: state.version, handlers: state.handlers.length, unguarded_ms: roundMs(unguardedMs()) };
}

/** The `superd upgrade` client, answered by this (the new) image. */
export function answerClient(state: UpgradeState): void {
  if (state.client === null) return;
  const report: UpgradeReport = { upgraded: true, pid: process.pid, version: superdVersion(), was: state.version };
  answerPassedClient(state.client, report);
}

function roundMs(ms: number | null): number | undefined {
  return ms === null ? undefined : Math.round(ms);
}
