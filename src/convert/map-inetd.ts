// One inetd.conf entry -> one draft section per listen address (usually
// one). argv[0] is the first word after the program, as inetd passes it.
//
// Nothing is written wider than the file could have been under any inetd
// that may have read it. inetd's `tcp` and `udp` are IPv4 only in OpenBSD's,
// FreeBSD's, NetBSD's, busybox's and inetutils' inetd, so they become `tcp4`
// and `udp4`; only Debian's openbsd-inetd since 0.20221205 (Debian 12)
// listens on IPv6 too, and a file is taken as read by it only when it has
// update-inetd's marks and that openbsd-inetd is installed here (dpkg): then
// they stay `tcp` and `udp`, both families, as superd's are. `tcp4`, `tcp6`,
// `udp4`, `udp6` are one family everywhere, FreeBSD's `tcp46` both.
//
// A unix socket gets the narrowest `socket_mode` the inetds gave it:
// FreeBSD's made it root's with mode 0200 (or the owner and mode of its
// `:USER:GROUP:MODE:`), NetBSD's and busybox's bound it under their umask,
// 0755 with the usual 022, so only root could connect; OpenBSD's and Debian's
// openbsd-inetd bind it under umask 0111, 0666.

import { isIP } from 'node:net';
import path from 'node:path';
import { userIndex } from '../config/systemdb.js';
import { compareDebianVersions } from './dpkg.js';
import type { HostFiles } from './fit.js';
import { builtinFor, BUILTINS, mapLimits, mappedAs, mapProgram, noEquivalent, sanitizeName, type MapContext } from './map-common.js';
import type { InetdEntry, InetdFile } from './inetd.js';
import { cannotServe, newDraft, setKey, type Draft } from './types.js';

const PROTOCOL = /^(tcp|udp)(4|6|46)?$/;

/** The openbsd-inetd version whose `tcp` and `udp` are IPv4 and IPv6 (Debian's changelog, 0.20221205-1). */
export const DEBIAN_DUAL_STACK_SINCE = '0.20221205';

/** What the whole file and this host say about the inetd that read the file. */
interface Origin {
  /** Debian's openbsd-inetd 0.20221205 or later read it: `tcp` and `udp` were both families, unix sockets 0666. */
  debian: boolean;
  /** Why (not), for the comments. */
  why: string;
}

function origin(file: Pick<InetdFile, 'updateInetd'>, host: HostFiles): Origin {
  const installed = host.openbsdInetd ?? null;
  const marks = file.updateInetd;
  if (marks === null) return { debian: false, why: '' };
  const where = `update-inetd's marks (${marks.mark} at line ${marks.line})`;
  if (installed !== null && compareDebianVersions(installed, DEBIAN_DUAL_STACK_SINCE) >= 0) {
    return { debian: true, why: `this file has ${where} and openbsd-inetd ${installed} is installed here` };
  }
  const here = installed === null ? 'openbsd-inetd is not installed here' : `the openbsd-inetd installed here is ${installed}`;
  return { debian: false, why: `this file has ${where} but ${here}` };
}

/**
 * `file` is the entry's inetd.conf (its update-inetd marks); without it the
 * file is taken as one any inetd may have read.
 */
export function mapInetdEntry(e: InetdEntry, ctx: MapContext, file: Pick<InetdFile, 'updateInetd'> = { updateInetd: null }): Draft[] {
  const from = origin(file, ctx.host);
  return e.hosts.map((host, i) => mapForHost(e, host, i === 0 ? e.comments : [], ctx, from));
}

const octal = (mode: number): string => `0${mode.toString(8).padStart(3, '0')}`;

/**
 * `socket_mode`: no wider than the narrowest mode the inetds that may have
 * read the file gave the socket, superd's socket being its own user's (root).
 */
function socketMode(d: Draft, e: InetdEntry, ctx: MapContext, from: Origin): void {
  const o = e.socketOwner;
  if (o !== null) {
    // FreeBSD's own syntax: it chowned the socket to USER:GROUP and chmodded it to MODE.
    const index = userIndex(ctx.host.passwd);
    const rootUser = index.userByName.get(o.user)?.uid === 0;
    const rootGroup = index.groupByName.get(o.group)?.gid === 0;
    const u = (o.mode >> 6) & 7;
    const g = (o.mode >> 3) & 7;
    const other = o.mode & 7;
    // Who superd lets in (root's group, everyone else) must have been let in whoever they were there.
    const ifNotOwner = rootUser ? 7 : u;
    const groupBits = rootGroup ? g & ifNotOwner : other & g & ifNotOwner;
    const otherBits = other & ifNotOwner & (rootGroup ? 7 : g);
    const mode = (u << 6) | (groupBits << 3) | otherBits;
    setKey(d, 'socket_mode', octal(mode), mappedAs('inetd', `:${o.user}:${o.group}:${octal(o.mode)}:`,
      `FreeBSD's inetd made the socket ${o.user}:${o.group} with mode ${octal(o.mode & 0o777)}; ` +
      (rootUser && rootGroup
        ? "superd's is its own user's (root), with the same mode"
        : `superd has no key for a socket's owner or group, its socket is its own user's (root): ${octal(mode)} lets in no one FreeBSD's inetd did not`)));
    return;
  }
  if (from.debian) {
    setKey(d, 'socket_mode', '0666', mappedAs('inetd', `unix ${e.service}`,
      `Debian's openbsd-inetd binds unix sockets under umask 0111, mode 0666, and ${from.why}: anyone may connect, as before`));
    return;
  }
  setKey(d, 'socket_mode', '0600', mappedAs('inetd', `unix ${e.service}`,
    "FreeBSD's inetd made the socket root's with mode 0200, NetBSD's and busybox's bound it under their umask (0755 with the usual 022), " +
    `so only root could connect; OpenBSD's and Debian's openbsd-inetd make it 0666${from.why === '' ? '' : `, and ${from.why}`}; ` +
    "0600 lets only superd's own user (root) connect, socket_mode = 0666 lets every local user in"));
}

/**
 * `protocol`: IPv4 only for `tcp` and `udp` unless Debian's openbsd-inetd
 * 0.20221205 or later read the file (both families there).
 */
function protocolKey(d: Draft, e: InetdEntry, transport: 'tcp' | 'udp', family: string | undefined, host: string, from: Origin): void {
  if (family === '4' || family === '6') return setKey(d, 'protocol', `${transport}${family}`);
  if (family === '46') return setKey(d, 'protocol', transport);
  const v6 = isIP(host) === 6;
  if (from.debian) {
    const note = host === '*'
      ? [mappedAs('inetd', e.protocol, `IPv4 and IPv6 in Debian's openbsd-inetd ${DEBIAN_DUAL_STACK_SINCE} and later, and ${from.why}`)]
      : [];
    return setKey(d, 'protocol', transport, ...note);
  }
  if (v6) {
    setKey(d, 'protocol', `${transport}6`);
    d.disabled.push(`its address ${host} is IPv6 and its protocol ${e.protocol}, IPv4 only in OpenBSD's, FreeBSD's, NetBSD's and busybox's inetd: ` +
      `they did not listen there, only Debian's openbsd-inetd ${DEBIAN_DUAL_STACK_SINCE} and later did${from.why === '' ? '' : `, and ${from.why}`}`);
    return;
  }
  if (isIP(host) === 4) return setKey(d, 'protocol', `${transport}4`);
  setKey(d, 'protocol', `${transport}4`, mappedAs('inetd', e.protocol,
    `IPv4 only in OpenBSD's, FreeBSD's, NetBSD's and busybox's inetd; only Debian's openbsd-inetd ${DEBIAN_DUAL_STACK_SINCE} and later adds IPv6` +
    `${from.why === '' ? '' : `, and ${from.why}`}; protocol = ${transport} listens on IPv6 too`));
}

function sectionName(e: InetdEntry): string {
  if (e.protocol === 'unix') return sanitizeName(path.basename(e.service).replace(/\.[^.]*$/, ''));
  return sanitizeName(e.service);
}

function mapForHost(e: InetdEntry, host: string, carried: string[], ctx: MapContext, from: Origin): Draft {
  const d = newDraft(e.file, e.line, e.off ? `#<off># ${e.text}` : e.text, sectionName(e), carried);
  d.altSuffix = e.protocol.replace(/^rpc\//, '');
  const proto = PROTOCOL.exec(e.protocol);
  const transport = proto !== null ? (proto[1] as 'tcp' | 'udp') : e.protocol === 'unix' ? 'unix' : null;

  // The socket.
  if (e.protocol.startsWith('rpc/')) cannotServe(d, `${e.protocol}: superd does not register RPC services with the portmapper (rpcbind)`);
  else if (transport === null) cannotServe(d, `protocol ${e.protocol}: superd serves tcp, udp and unix sockets`);
  if (e.socketType !== 'stream' && e.socketType !== 'dgram') cannotServe(d, `socket type ${e.socketType}: superd serves stream and dgram sockets only`);
  else if ((transport === 'tcp' && e.socketType !== 'stream') || (transport === 'udp' && e.socketType !== 'dgram')) {
    cannotServe(d, `socket type ${e.socketType} does not go with protocol ${e.protocol}`);
  } else if (transport === 'unix' && e.socketType !== 'stream') cannotServe(d, 'superd serves unix stream sockets only');
  if (transport === 'tcp' || transport === 'udp') protocolKey(d, e, transport, proto?.[2], host, from);
  else setKey(d, 'protocol', transport ?? e.protocol);
  if (transport === 'unix') {
    setKey(d, 'path', e.service);
    socketMode(d, e, ctx, from);
  } else if (/^tcpmux\//.test(e.service)) cannotServe(d, `${e.service}: superd does not serve the tcpmux port (RFC 1078) that such services are reached through`);
  else if (!e.protocol.startsWith('rpc/')) setKey(d, 'port', e.service);
  if (transport !== 'unix' && host !== '*') {
    if (isIP(host) !== 0) setKey(d, 'bind', host);
    else {
      d.notes.push(noEquivalent('inetd', `${host}:${e.service}`, 'bind takes an address, not a host name'));
      d.disabled.push(`its address ${host} is a host name: without a bind the service would listen on every address`);
    }
  }
  if (e.protocolOptions.length > 0) {
    d.notes.push(noEquivalent('inetd', `${e.protocol},${e.protocolOptions.join(',')}`, 'superd leaves socket buffer sizes at the system defaults'));
  }

  // The handler.
  const internal = e.server === 'internal';
  if (internal) {
    const builtin = builtinFor(e.service);
    if (builtin === null) cannotServe(d, `inetd's internal service '${e.service}' has no superd builtin (superd has ${BUILTINS.join(', ')})`);
    else setKey(d, 'builtin', builtin);
    d.notes.push(noEquivalent('inetd', `user ${[e.user, e.group].filter((x) => x !== null).join(':')}`, 'builtins run inside superd, no program is started'));
  } else {
    mapProgram(d, 'inetd', e.server, e.argv[0] ?? null, e.argv.slice(1));
    if (transport === 'udp' && !e.wait) {
      setKey(d, 'wait', 'yes', mappedAs('inetd', 'nowait', 'superd starts a udp program only as wait = yes: a nowait datagram handler would be started for every datagram'));
      d.disabled.push('the program was a nowait udp server: check that it works handed the socket (wait = yes), then enable it');
    } else setKey(d, 'wait', e.wait ? 'yes' : 'no');
    setKey(d, 'user', e.user);
    if (e.group !== null) setKey(d, 'group', e.group);
    if (e.loginClass !== null) d.notes.push(noEquivalent('inetd', `login class ${e.loginClass}`, 'superd sets no login class (limits from login.conf)'));
  }

  if (e.off) d.disabled.push('switched off in inetd.conf (#<off>#, as update-inetd --disable writes it)');
  const positive = (n: number | null): number | null => (n === null || n === 0 ? null : n);
  const rateNote = e.perMinute === null ? null
    : mappedAs('inetd', `${e.wait ? 'wait' : 'nowait'}.${e.perMinute}`,
      'past this many a minute inetd stopped the service for ten minutes; superd never stops it, it refuses only the connections past the rate');
  mapLimits(d, 'inetd', {
    transport: transport ?? 'tcp',
    waitProgram: !internal && e.wait,
    maxChildren: positive(e.maxChild),
    maxPerSource: positive(e.perIpChild),
    rate: positive(e.perMinute),
    ratePerSource: positive(e.perIpPerMinute),
  }, { maxPerSource: 'max-child-per-ip', ratePerSource: 'max-connections-per-ip-per-minute' }, { rate: rateNote === null ? [] : [rateNote] });
  return d;
}
