// inetd.conf syntax, as OpenBSD's inetd (Debian's openbsd-inetd), FreeBSD's
// and NetBSD's read it: one service per line,
//
//   [ADDRESS:]SERVICE  SOCKET_TYPE  PROTOCOL[,sndbuf=N][,rcvbuf=N]
//   wait|nowait[.MAX | :MAX | /MAX_CHILD[/PER_IP_PER_MINUTE[/PER_IP_CHILD]]]
//   USER[:GROUP | .GROUP][/LOGIN_CLASS]  PROGRAM|internal  [ARGV0 ARGS…]
//
// `#` starts a comment line; a line `ADDRESS:` alone sets the address of the
// lines after it. FreeBSD's unix-socket entries may start `:USER:GROUP:MODE:`,
// the socket file's owner and permissions. Debian's update-inetd leaves its
// marks in the file it manages: `#:LABEL:` section lines and `#<off>#`
// entries (map-inetd.ts reads them, with dpkg's word on which openbsd-inetd
// is installed, as a sign of which inetd read the file). Only the shape is
// checked here: a field superd has no equivalent for is map-inetd.ts's to
// explain, not an error.

import { fileLines } from '../config/scan.js';
import { fail, ok, type Result } from '../errors.js';
import { clip } from '../config/clip.js';
import { INETD_WAIT, SOCKET_TYPES } from '../config/foreign.js';
import { convertError, type ConvertError } from './types.js';

export interface InetdEntry {
  file: string;
  line: number;
  /** The line as written, for the comment above the section. */
  text: string;
  /** Local addresses to listen on; ['*'] is every address. */
  hosts: string[];
  /** The first field without its address: a service name, a port, `name/version` (RPC) or a path (unix). */
  service: string;
  /** FreeBSD's `:USER:GROUP:MODE:` before a unix socket's path: who owns the socket file, and its permissions. */
  socketOwner: { user: string; group: string; mode: number } | null;
  socketType: string;
  /** `tcp`, `udp6`, `rpc/tcp`, `unix`…, without its buffer options. */
  protocol: string;
  /** `sndbuf=64k`, `rcvbuf=1m`. */
  protocolOptions: string[];
  wait: boolean;
  /** OpenBSD's `.MAX`, NetBSD's `:MAX`: handlers started per minute. */
  perMinute: number | null;
  /** FreeBSD's `/MAX_CHILD/PER_IP_PER_MINUTE/PER_IP_CHILD`; 0 is no limit. */
  maxChild: number | null;
  perIpPerMinute: number | null;
  perIpChild: number | null;
  user: string;
  group: string | null;
  loginClass: string | null;
  /** A path, or `internal`. */
  server: string;
  /** argv, argv[0] included, as inetd passes it. */
  argv: string[];
  /** Comment lines since the previous entry. */
  comments: string[];
  /** Debian's `#<off>#` entry: switched off by update-inetd --disable, kept to be switched on again. */
  off: boolean;
}

/** A line Debian's update-inetd writes: `#:INTERNAL: Internal services`, or an entry it switched off. */
export interface UpdateInetdMark {
  line: number;
  /** `#:INTERNAL:` or `#<off>#`. */
  mark: string;
}

export interface InetdFile {
  path: string;
  entries: InetdEntry[];
  /** Comment lines after the last entry. */
  trailing: string[];
  /** The first of update-inetd's marks in the file, null when it has none. */
  updateInetd: UpdateInetdMark | null;
}

const HOST_LINE = /^(\S+):$/;
/** How Debian's update-inetd switches an entry off. */
const OFF = '#<off>#';
/** update-inetd's section lines (`#:STANDARD:`, `#:HAM-RADIO:`), under which it adds entries. */
const SECTION_MARK = /^#:[A-Z][A-Z0-9_-]*:/;
/** FreeBSD's owner and permissions of a unix socket, before its path. */
const SOCKET_OWNER = /^:([^:]+):([^:]+):([0-7]{1,4}):(.+)$/;

export function parseInetd(path: string, text: string): Result<InetdFile, ConvertError> {
  const entries: InetdEntry[] = [];
  let hosts = ['*'];
  let comments: string[] = [];
  let updateInetd: UpdateInetdMark | null = null;
  const lines = fileLines(text);
  for (const [index, raw] of lines.entries()) {
    const n = index + 1;
    const line = raw.trim();
    if (line === '') continue;
    if (updateInetd === null) {
      const mark = line.startsWith(OFF) ? OFF : SECTION_MARK.exec(line)?.[0];
      if (mark !== undefined) updateInetd = { line: n, mark };
    }
    if (line.startsWith(OFF)) {
      // A switched-off entry is a disabled service; one that does not parse stays a comment.
      const off = parseEntry(path, n, line.slice(OFF.length).trim(), hosts);
      if (off.ok) {
        entries.push({ ...off.value, comments, off: true });
        comments = [];
        continue;
      }
    }
    if (line.startsWith('#')) {
      comments.push(line);
      continue;
    }
    const hostLine = HOST_LINE.exec(line);
    if (hostLine !== null) {
      hosts = splitHosts(hostLine[1] as string);
      continue;
    }
    const entry = parseEntry(path, n, line, hosts);
    if (!entry.ok) return entry;
    entry.value.comments = comments;
    comments = [];
    entries.push(entry.value);
  }
  return ok({ path, entries, trailing: comments, updateInetd });
}

function splitHosts(list: string): string[] {
  return list.split(',').filter((h) => h !== '').map((h) => h.replace(/^\[(.*)\]$/, '$1'));
}

function parseEntry(path: string, n: number, line: string, defaultHosts: string[]): Result<InetdEntry, ConvertError> {
  const err = (message: string): Result<never, ConvertError> => fail(convertError('inetd_syntax', path, n, message));
  const f = line.split(/\s+/);
  if (f.length < 6) {
    return err(`an inetd.conf entry has at least six fields (service, socket type, protocol, wait/nowait, user, program), ` +
      `this one has ${f.length}: '${clip(line)}'`);
  }
  const [first, socketType, protoField, waitField, userField, server] = f as [string, string, string, string, string, string];

  // `ADDRESS:SERVICE`; the address may be IPv6 (`::1:echo`), so the last colon separates.
  let hosts = defaultHosts;
  let service = first;
  let socketOwner: InetdEntry['socketOwner'] = null;
  const colon = first.lastIndexOf(':');
  const [protocol = '', ...protocolOptions] = protoField.split(',');
  const owner = SOCKET_OWNER.exec(first);
  if (protocol === 'unix' && owner !== null) {
    socketOwner = { user: owner[1] as string, group: owner[2] as string, mode: parseInt(owner[3] as string, 8) };
    service = owner[4] as string;
  } else if (protocol === 'unix') {
    hosts = ['*']; // a socket file has no address: an address line above does not apply to it
  } else if (colon > 0) {
    hosts = splitHosts(first.slice(0, colon));
    service = first.slice(colon + 1);
  }
  if (service === '') return err(`no service name after the address in '${clip(first)}'`);

  if (!(SOCKET_TYPES as readonly string[]).includes(socketType)) {
    return err(`the second field must be a socket type (${SOCKET_TYPES.join(', ')}), got '${clip(socketType)}'`);
  }
  if (protocol === '') return err(`the third field must be a protocol such as tcp or udp, got '${clip(protoField)}'`);
  if (!INETD_WAIT.test(waitField)) {
    return err(`the fourth field must be wait or nowait (optionally .MAX or :MAX, or /MAX_CHILD/PER_IP_PER_MINUTE/PER_IP_CHILD), got '${clip(waitField)}'`);
  }
  const [waitWord, ...limits] = waitField.split(/[./:]/);
  // OpenBSD's `.MAX` and NetBSD's `:MAX` are the same limit: handlers started per minute.
  const openbsd = waitField.includes('.') || waitField.includes(':');
  const num = (i: number): number | null => (limits[i] === undefined ? null : Number(limits[i]));

  const userMatch = /^([^:./]+)(?:[:.]([^/]+))?(?:\/(.+))?$/.exec(userField);
  if (userMatch === null) return err(`the fifth field must be USER, USER:GROUP or USER.GROUP, got '${clip(userField)}'`);

  return ok({
    file: path,
    line: n,
    text: line.replace(/\s+/g, ' '),
    hosts,
    service,
    socketOwner,
    socketType,
    protocol,
    protocolOptions,
    wait: waitWord === 'wait',
    perMinute: openbsd ? num(0) : null,
    maxChild: openbsd ? null : num(0),
    perIpPerMinute: openbsd ? null : num(1),
    perIpChild: openbsd ? null : num(2),
    user: userMatch[1] as string,
    group: userMatch[2] ?? null,
    loginClass: userMatch[3] ?? null,
    server,
    argv: f.slice(6),
    comments: [],
    off: false,
  });
}
