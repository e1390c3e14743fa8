// Socket activation (SPEC §4, sd_listen_fds(3)): the sockets a service
// manager bound for superd and passed at start as descriptors 3…3+N-1. Each
// is described once, and kept here for the daemon's whole life: a service
// adopts one (inherited-match.ts) and its listener gets a duplicate, which
// Node may close; the original stays in this pool, so a service removed by a
// reload leaves its socket open (what arrives waits in its backlog) and gets
// it back when it is added again. superd never binds, unlinks or chmods an
// adopted address: systemd owns it.
//
// An upgrade in place (src/upgrade/) fills the pool too: with the sockets of
// the inherited pool as they were, and with each socket superd made itself,
// named after its service. Those go to that service only, at the same
// address (inherited-match.ts), and are its listener's for good: closed with
// it (a unix socket's file removed, as superd placed it), never kept here.
import { networkInterfaces } from 'node:os';
import type { ServiceDefinition } from '../config/types.js';
import type { Logger } from '../log/types.js';
import { SysError } from '../sys/errors.js';
import { closeDescriptor } from '../sys/sockets.js';
import { removeOwnSocket } from './unixpath.js';
import { interimDefinition } from '../upgrade/interim.js';
import type { PassedInherited, PassedInterim, PassedListener } from '../upgrade/state.js';
import { describeSocket, duplicate, setCloseOnExec } from '../sys/described.js';
import { assignAtStart, socketFor, type InheritedFacts } from './inherited-match.js';

/** sd_listen_fds(3): the first passed descriptor. */
export const LISTEN_FDS_START = 3;
const VARIABLES = ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES'] as const;

/** A socket superd was started with. */
export interface InheritedSocket extends InheritedFacts {
  /** The original descriptor, close-on-exec, open until superd exits. */
  readonly fd: number;
  /** How superd says what a service would bind: 'tcp', 'tcp4', 'tcp6', 'udp'…, 'unix'. */
  readonly protocol: string;
  /** `127.0.0.1:7000`, `[::]:7000`, `/run/x.sock`, as listeners write addresses. */
  readonly address: string;
  /** Passed by an upgrade: the unix socket file superd placed, removed when the socket closes. */
  readonly ownFile?: { dev: number; ino: number } | null;
  /** Passed by an upgrade while its service waited to bind the address a reload moved it to (upgrade/interim.ts). */
  readonly interim?: PassedInterim;
}

/** The descriptors passed to this process, and their names; null when none were (or not to us). */
export interface Passed {
  fds: number[];
  names: string[];
}

/**
 * Reads LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES and removes them from env
 * whatever they say (sd_listen_fds' unset_environment), so that no handler
 * ever sees them, not even through `pass_env`.
 */
export function takeListenEnvironment(env: NodeJS.ProcessEnv, pid: number): Passed | null {
  const [listenPid, listenFds, listenNames] = VARIABLES.map((name) => env[name]);
  for (const name of VARIABLES) delete env[name];
  if (listenPid === undefined || !/^[0-9]+$/.test(listenPid) || Number(listenPid) !== pid) return null;
  if (listenFds === undefined || !/^[0-9]+$/.test(listenFds)) return null;
  const count = Number(listenFds);
  if (count === 0) return null;
  const fds = Array.from({ length: count }, (_, i) => LISTEN_FDS_START + i);
  const given = listenNames === undefined ? [] : listenNames.split(':');
  return { fds, names: fds.map((_, i) => given[i] ?? 'unknown') };
}

function addressOf(f: { family: string; host: string; port: number }): string {
  if (f.family === 'unix') return f.host;
  return `${f.family === 'inet6' ? `[${f.host}]` : f.host}:${f.port}`;
}

function protocolOf(f: { family: string; type: string; ipv6Only: boolean }): string {
  if (f.family === 'unix') return 'unix';
  const base = f.type === 'stream' ? 'tcp' : 'udp';
  return f.family === 'inet4' ? `${base}4` : f.ipv6Only ? `${base}6` : base;
}

/** What fd is, or why superd cannot serve on it. */
function inspect(fd: number, name: string): InheritedSocket | string {
  const cloexec = setCloseOnExec(fd);
  if (cloexec !== null) return cloexec.message;
  const facts = describeSocket(fd);
  if (facts instanceof SysError) return facts.code === 'ENOTSOCK' ? 'not a socket' : facts.message;
  const { type, family } = facts;
  if (type === 'other' || family === 'other') return 'neither a stream nor a datagram socket of AF_INET, AF_INET6 or AF_UNIX';
  if (type === 'stream' && !facts.listening) return 'a stream socket that is not listening (systemd passes a connection only with Accept=yes)';
  if (family === 'unix' && type !== 'stream') return 'a unix datagram socket: superd serves unix stream sockets only';
  const described = { type, family, host: facts.address, port: facts.port, ipv6Only: facts.ipv6Only, listening: facts.listening, name };
  return { ...described, fd, protocol: protocolOf(described), address: addressOf(described) };
}

/** Whether the host has an IPv6 stack (a dual-stack `[::]` socket is what superd would bind for `tcp`). */
function hasIPv6(): boolean {
  return Object.values(networkInterfaces()).some((list) => list?.some((a) => a.family === 'IPv6') === true);
}

/** A socket adopted by a listener: `fd` is its own duplicate, closed with the listener. */
export interface Adopted {
  socket: InheritedSocket;
  fd: number;
  /** Back to the pool (the listener has closed its duplicate). */
  release(): void;
}

/** The daemon's inherited sockets: one pool per process. */
export class InheritedPool {
  private sockets: InheritedSocket[] = [];
  /** Sockets a listener holds now. */
  private readonly held = new Set<InheritedSocket>();
  /** The service each socket went to at start: it gets that one back first. */
  private readonly assigned = new Map<InheritedSocket, string>();
  private hostHasIPv6: boolean | undefined;
  /** The first load's moves still under way: by the definition of each service, the one its old socket is served with. */
  private readonly interims = new Map<ServiceDefinition, ServiceDefinition>();

  constructor(hostHasIPv6?: boolean) {
    this.hostHasIPv6 = hostHasIPv6;
  }

  private get ipv6(): boolean {
    this.hostHasIPv6 ??= hasIPv6();
    return this.hostHasIPv6;
  }

  /** Takes what was passed: each socket described and kept, anything else logged and closed. */
  adopt(passed: Passed | null, logger: Logger): void {
    if (passed === null) return;
    passed.fds.forEach((fd, i) => {
      const name = passed.names[i] ?? 'unknown';
      const socket = inspect(fd, name);
      if (typeof socket !== 'string') {
        this.sockets.push(socket);
        return;
      }
      logger.log('warn', 'socket_unusable', { fd, name, message: `inherited descriptor ${fd} (${name}) closed: ${socket}` });
      closeDescriptor(fd);
    });
  }

  /**
   * What an upgrade passed (src/upgrade/): the pool's sockets as they were
   * (each keeps the service it went to at start), and superd's own listening
   * sockets, named after their services. A descriptor that is no usable
   * socket is logged and closed.
   */
  adoptUpgrade(listeners: readonly PassedListener[], inherited: readonly PassedInherited[], logger: Logger): void {
    const take = (fd: number, name: string): InheritedSocket | null => {
      const socket = inspect(fd, name);
      if (typeof socket !== 'string') return socket;
      logger.log('warn', 'socket_unusable', { fd, name, message: `descriptor ${fd} (${name}) passed by the upgrade closed: ${socket}` });
      closeDescriptor(fd);
      return null;
    };
    for (const l of listeners) {
      const socket = take(l.fd, l.service);
      if (socket !== null) this.sockets.push({ ...socket, boundFor: l.address, ownFile: l.ownFile, ...(l.interim === undefined ? {} : { interim: l.interim }) });
    }
    for (const i of inherited) {
      const taken = take(i.fd, i.name);
      if (taken === null) continue;
      const socket = i.interim === undefined ? taken : { ...taken, interim: i.interim };
      this.sockets.push(socket);
      if (i.assigned !== null) this.assigned.set(socket, i.assigned);
    }
  }

  /**
   * The pool's own sockets (not those an upgrade passed for a listener), for
   * the next upgrade's state; `interims`: by descriptor, those serving while
   * their service waits to bind its new address.
   */
  passable(interims: ReadonlyMap<number, PassedInterim> = new Map()): PassedInherited[] {
    return this.sockets
      .filter((s) => s.boundFor === undefined)
      .map((s) => {
        const interim = interims.get(s.fd);
        return { fd: s.fd, name: s.name, assigned: this.assigned.get(s) ?? null, ...(interim === undefined ? {} : { interim }) };
      });
  }

  /**
   * The first load: each socket goes to the service it matches; one that
   * matches none is logged and closed (SPEC §4). Those an upgrade passed with
   * their service from start stay, as they did before it; so does the old
   * socket of a move still under way, while its service is there to serve it
   * (interimFor).
   */
  async keepFor(defs: readonly ServiceDefinition[], logger: Logger): Promise<void> {
    for (const s of this.sockets) {
      if (s.interim === undefined) continue;
      // A socket systemd passed went to its service at start; one superd made is named after it.
      const name = this.assigned.get(s) ?? s.name;
      const def = defs.find((d) => d.name === name);
      const serving = def === undefined ? null : interimDefinition(def, s.interim);
      if (def === undefined || serving === null) continue;
      this.assigned.set(s, name);
      this.interims.set(def, serving);
    }
    const fresh = this.sockets.filter((s) => !this.assigned.has(s));
    const assigned = assignAtStart(defs, fresh, this.ipv6);
    const unused: Promise<void>[] = [];
    for (const socket of fresh) {
      const service = assigned.get(socket);
      if (service !== undefined) {
        this.assigned.set(socket, service);
        continue;
      }
      unused.push(this.unused(socket, logger));
    }
    this.sockets = this.sockets.filter((s) => this.assigned.has(s));
    await Promise.all(unused);
  }

  private async unused(socket: InheritedSocket, logger: Logger): Promise<void> {
    const where = `${socket.address}/${socket.protocol}`;
    const message =
      socket.boundFor === undefined
        ? `no service matches the inherited socket ${where} (name ${socket.name}): closed`
        : `service ${socket.name} is gone or has another address now: its socket ${where}, kept through the upgrade, is closed`;
    logger.log(socket.boundFor === undefined ? 'warn' : 'info', 'socket_unused', { fd: socket.fd, name: socket.name, address: where, message });
    // The file goes first, while the open socket pins its inode (unixpath.ts).
    if (socket.ownFile !== undefined && socket.ownFile !== null) await removeOwnSocket(socket.host, socket.ownFile);
    closeDescriptor(socket.fd);
  }

  /** The socket among `sockets` that def adopts, or null: the one it had at start if that still matches it. */
  private find(def: ServiceDefinition, sockets: readonly InheritedSocket[]): InheritedSocket | null {
    return socketFor(def, sockets, this.ipv6, (s) => this.assigned.get(s));
  }

  /**
   * The definition def's old socket is served with while def waits to bind
   * its own address (upgrade/interim.ts), or null: no such socket was passed
   * for def (or def is not the first load's). Its listener then claims the
   * socket as it claims any in the pool.
   */
  interimFor(def: ServiceDefinition): ServiceDefinition | null {
    const serving = this.interims.get(def) ?? null;
    // Once only: a later reload's definitions start afresh.
    this.interims.delete(def);
    return serving;
  }

  /** Whether two definitions would adopt the same socket (a reload's replacement takes its predecessor's). */
  same(a: ServiceDefinition, b: ServiceDefinition): boolean {
    const first = this.find(a, this.sockets);
    return first !== null && first === this.find(b, this.sockets);
  }

  /**
   * The socket def adopts, with a duplicate for its listener; null when none
   * matches (def binds its address itself). One an upgrade passed for def's
   * listener is the listener's own from now on: no duplicate, not kept.
   */
  claim(def: ServiceDefinition): Adopted | SysError | null {
    const socket = this.find(def, this.sockets.filter((s) => !this.held.has(s)));
    if (socket === null) return null;
    if (socket.boundFor !== undefined) {
      this.sockets = this.sockets.filter((s) => s !== socket);
      this.assigned.delete(socket);
      return { socket, fd: socket.fd, release: () => undefined };
    }
    const fd = duplicate(socket.fd);
    if (fd instanceof SysError) return fd;
    this.held.add(socket);
    let released = false;
    return {
      socket,
      fd,
      release: () => {
        if (released) return;
        released = true;
        this.held.delete(socket);
      },
    };
  }
}

/** The daemon's pool (empty unless run.ts adopted what superd was started with). */
export const inheritedSockets = new InheritedPool();
