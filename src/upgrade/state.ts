// What an upgrade in place hands the new image (superd.8, UPGRADING): the
// descriptors it keeps open across execve and what superd knows of each,
// as JSON in a memfd whose number is in SUPERD_UPGRADE_STATE. Pure: encode
// and decode, and the checks a state must pass before any descriptor it
// names is believed (exec.ts writes it, resume.ts reads it).
import type { BuiltinName, Protocol } from '../config/types.js';
import type { Connection } from '../listen/connection.js';
import type { ServiceStats } from '../service/types.js';

export const STATE_VARIABLE = 'SUPERD_UPGRADE_STATE';
/** Bumped when the shape changes: an image that does not know a state's format starts from scratch rather than guess. */
export const STATE_FORMAT = 1;

/** The socket a service listens on, which superd made itself. */
export interface PassedListener {
  service: string;
  /** describeAddress of the definition it was made for: the new image gives it to that service only while its address is the same. */
  address: string;
  fd: number;
  /** A unix socket's file superd placed (and removes when the socket closes): its identity; null for inet sockets. */
  ownFile: { dev: number; ino: number } | null;
  /**
   * Present when a reload moved the service elsewhere and its new socket was
   * still waiting to bind (bind_failed, retried): this old socket serves until
   * the new one binds, in the new image as in the old (upgrade/interim.ts).
   */
  interim?: PassedInterim;
}

/** The old socket's side of a move still under way: where it listens, and the address its service waits to bind. */
export interface PassedInterim {
  /** describeAddress of the address the service moved to. */
  to: string;
  protocol: Protocol;
  bind: string | null;
  port: number | null;
  path: string | null;
  socketMode: number;
  /** What the socket was serving: a program per connection, a wait program, a builtin. */
  kind: 'nowait' | 'wait' | 'builtin';
}

/** A socket of the inherited pool (socket activation): systemd's, kept for the daemon's life. */
export interface PassedInherited {
  fd: number;
  /** Its LISTEN_FDNAMES name. */
  name: string;
  /** The service it went to at start, if any. */
  assigned: string | null;
  /** Its service's move still under way, as PassedListener's: it serves until the new address binds. */
  interim?: PassedInterim;
}

/** A handler running at the upgrade: the new image watches its pid and logs its exit. */
export interface PassedHandler {
  service: string;
  pid: number;
  /** How long it had run (ms) at the upgrade. */
  ranMs: number;
  /** The remote address its connection was admitted for (per-source accounting); null for a wait handler. */
  source: string | null;
  /** When its `timeout` ends it, in ms from the upgrade; null: none. */
  timeoutInMs: number | null;
  /** The read end of its stderr pipe, when superd holds it; null otherwise. */
  stderr: number | null;
  /** It serves the service's wait socket: the socket is watched again once it exits. */
  wait: boolean;
  /** Its service was removed or replaced by a reload: it is reaped and logged, but holds no slot. */
  retired: boolean;
}

/** A connection admitted but not yet handed to a handler, or one whose PROXY header is still being read. */
export interface PassedConnection {
  service: string;
  fd: number;
  proto: 'TCP' | 'UNIX';
  remoteAddress: string;
  remotePort: number;
  /** Its local address (a unix socket's path), for the handler's environment. */
  local: string;
  /** proxy_protocol: the balancer that sent its header (remote* is the client the header named). */
  balancer: { address: string; port: number } | null;
  /**
   * Its PROXY header is not complete yet: nothing of it has been read (it is
   * only ever peeked at until whole), so the new image reads it from the start.
   */
  header: boolean;
}

/** A connection a built-in service was serving: the new image goes on serving it (service/builtin.ts). */
export interface PassedBuiltin extends Omit<PassedConnection, 'header'> {
  builtin: BuiltinName;
  /** How long it had been served (ms) at the upgrade. */
  ranMs: number;
  /** When its `timeout` ends it, in ms from the upgrade; null: none. */
  timeoutInMs: number | null;
}

/** A builtin's connection as the state carries it: its descriptor as it is (the new image reads and writes it again). */
export function passedBuiltin(service: string, conn: Connection, fd: number, served: Pick<PassedBuiltin, 'builtin' | 'ranMs' | 'timeoutInMs'>): PassedBuiltin {
  const { header: _, ...fields } = passedConnection(service, conn, fd);
  return { ...fields, ...served };
}

/** A queued connection as the state carries it; its descriptor is made blocking, as a handler gets it. */
export function passedConnection(service: string, conn: Connection, fd = conn.descriptor()): PassedConnection {
  const proto = conn.proto === 'UNIX' ? 'UNIX' : 'TCP';
  const balancer = conn.balancer === undefined ? null : { address: conn.balancer.address, port: conn.balancer.port };
  return { service, fd, proto, remoteAddress: conn.remoteAddress, remotePort: conn.remotePort, local: conn.localAddress, balancer, header: false };
}

/** A connection waiting for its PROXY header: its descriptor as it is (non-blocking: the new image peeks at it again). */
export function awaitingHeader(service: string, conn: Connection): PassedConnection {
  return { service, fd: conn.socketFd(), proto: 'TCP', remoteAddress: conn.remoteAddress, remotePort: conn.remotePort, local: conn.localAddress, balancer: null, header: true };
}

export interface UpgradeState {
  format: number;
  /** The old image's version (`upgraded` says from which). */
  version: string;
  startedAt: string;
  lastReload: { time: string; errors: number } | null;
  control: { fd: number; path: string; ownFile: { dev: number; ino: number } | null } | null;
  /** The `superd upgrade` client's connection: the new image answers it. */
  client: number | null;
  listeners: PassedListener[];
  inherited: PassedInherited[];
  handlers: PassedHandler[];
  queued: PassedConnection[];
  /** Absent from the state of a superd that closed them (decodeState makes it empty). */
  builtins: PassedBuiltin[];
  stats: Record<string, ServiceStats>;
}

export function encodeState(state: UpgradeState): string {
  return JSON.stringify(state);
}

/** Every descriptor the state names, in order, as often as it names it. */
function named(s: UpgradeState): number[] {
  return [
    ...(s.control === null ? [] : [s.control.fd]),
    ...(s.client === null ? [] : [s.client]),
    ...s.listeners.map((l) => l.fd),
    ...s.inherited.map((i) => i.fd),
    ...s.handlers.flatMap((h) => (h.stderr === null ? [] : [h.stderr])),
    ...s.queued.map((q) => q.fd),
    ...s.builtins.map((b) => b.fd),
  ];
}

/** Every descriptor the state names, each once (cleared of close-on-exec before execve, set again after). */
export function stateDescriptors(s: UpgradeState): number[] {
  return [...new Set(named(s))];
}

type Check = (v: unknown) => boolean;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str: Check = (v) => typeof v === 'string';
const num: Check = (v) => typeof v === 'number' && Number.isFinite(v);
const bool: Check = (v) => typeof v === 'boolean';
const oneOf =
  (...values: readonly unknown[]): Check =>
  (v) =>
    values.includes(v);
/** 0..2 are the standard descriptors, never one superd passes. */
const fd: Check = (v) => Number.isInteger(v) && (v as number) >= 3;
const pid: Check = (v) => Number.isInteger(v) && (v as number) > 1;
const orNull =
  (c: Check): Check =>
  (v) =>
    v === null || c(v);
/** A field an older superd does not write: absent, or as c says. */
const optional =
  (c: Check): Check =>
  (v) =>
    v === undefined || c(v);
const shape =
  (fields: Record<string, Check>): Check =>
  (v) =>
    isObject(v) && Object.entries(fields).every(([k, c]) => c(v[k]));
const list =
  (c: Check): Check =>
  (v) =>
    Array.isArray(v) && v.every(c);

const identity = shape({ dev: num, ino: num });
const CONNECTION = { service: str, fd, proto: oneOf('TCP', 'UNIX'), remoteAddress: str, remotePort: num, local: str, balancer: orNull(shape({ address: str, port: num })) };
const BUILTINS: readonly BuiltinName[] = ['echo', 'discard', 'chargen', 'daytime', 'time'];
const PROTOCOLS: readonly Protocol[] = ['tcp', 'tcp4', 'tcp6', 'udp', 'udp4', 'udp6', 'unix'];
const interim = shape({ to: str, protocol: oneOf(...PROTOCOLS), bind: orNull(str), port: orNull(num), path: orNull(str), socketMode: num, kind: oneOf('nowait', 'wait', 'builtin') });
const CHECKS: Record<keyof UpgradeState, Check> = {
  format: (v) => v === STATE_FORMAT,
  version: str,
  startedAt: str,
  lastReload: orNull(shape({ time: str, errors: num })),
  control: orNull(shape({ fd, path: str, ownFile: orNull(identity) })),
  client: orNull(fd),
  listeners: list(shape({ service: str, address: str, fd, ownFile: orNull(identity), interim: optional(interim) })),
  inherited: list(shape({ fd, name: str, assigned: orNull(str), interim: optional(interim) })),
  handlers: list(
    shape({ service: str, pid, ranMs: num, source: orNull(str), timeoutInMs: orNull(num), stderr: orNull(fd), wait: bool, retired: bool }),
  ),
  queued: list(shape({ ...CONNECTION, header: bool })),
  builtins: optional(list(shape({ ...CONNECTION, builtin: oneOf(...BUILTINS), ranMs: num, timeoutInMs: orNull(num) }))),
  stats: (v) => isObject(v) && Object.values(v).every(shape({ accepted: num, failed: num, refused: isObject, lastError: orNull(isObject) })),
};

/** The state in `text`, or what is wrong with it (a descriptor named twice is wrong: two owners would close it twice). */
export function decodeState(text: string): UpgradeState | Error {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return new Error(`the upgrade state is not JSON: ${(err as Error).message}`);
  }
  if (!isObject(value)) return new Error('the upgrade state is not an object');
  if (value.format !== STATE_FORMAT) return new Error(`the upgrade state has format ${String(value.format)}, this superd reads format ${STATE_FORMAT}`);
  for (const [key, check] of Object.entries(CHECKS)) {
    if (!check(value[key])) return new Error(`the upgrade state's ${key} is malformed`);
  }
  value.builtins ??= [];
  const state = value as unknown as UpgradeState;
  const fds = named(state);
  if (new Set(fds).size !== fds.length) return new Error('the upgrade state names a descriptor twice');
  return state;
}
