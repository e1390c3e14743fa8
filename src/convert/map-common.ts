// What the xinetd and the inetd.conf mappings share: the program and its
// argv, the builtins, the limits, and the wording of the comments.

import path from 'node:path';
import type { BuiltinName } from '../config/types.js';
import type { HostFiles } from './fit.js';
import { quoteWords } from './quote.js';
import type { HostsAccess } from './wrappers/tables.js';
import { setKey, type Draft, type Syntax } from './types.js';

export const BUILTINS: readonly BuiltinName[] = ['echo', 'discard', 'chargen', 'daytime', 'time'];

/** What the services of one conversion share, read from the host once. */
export interface MapContext {
  /** hosts.allow and hosts.deny, which tcpd and xinetd's libwrap applied and superd does not read. */
  wrappers: HostsAccess;
  /** This host's users, groups, /etc/services and programs. */
  host: HostFiles;
}

/** `# xinetd: KEY = VALUE — superd has no equivalent: WHY` */
export function noEquivalent(syntax: Syntax, setting: string, why: string): string {
  return `# ${syntax}: ${setting} — superd has no equivalent: ${why}`;
}

/** `# xinetd: KEY = VALUE — WHAT SUPERD DOES INSTEAD` for settings mapped with a difference. */
export function mappedAs(syntax: Syntax, setting: string, how: string): string {
  return `# ${syntax}: ${setting} — ${how}`;
}

/** The builtin an internal service stands for: by name, or by an id such as `echo-stream`. */
export function builtinFor(...names: string[]): BuiltinName | null {
  for (const n of names) {
    const base = n.toLowerCase().replace(/-(stream|dgram|tcp|udp)$/, '');
    const found = BUILTINS.find((b) => b === base);
    if (found !== undefined) return found;
  }
  return null;
}

export type Transport = 'tcp' | 'udp' | 'unix';

/** Where Debian's tcpd looks for a program named without a path (its REAL_DAEMON_DIR). */
export const TCPD_DAEMON_DIR = '/usr/sbin';

/**
 * `server` and `args`. `argv0` is the argv[0] the old daemon passed (inetd
 * always names it, xinetd with NAMEINARGS), null when it used the program's
 * own path. superd's argv[0] is the program's base name: a comment says so
 * when that differs. tcpd is unwrapped: it runs the program its argv[0]
 * names (a bare name from its daemon directory) after checking hosts.allow
 * and hosts.deny under the program's base name, and those rules are applied
 * to the draft as only_from and no_access (wrappers/apply.ts).
 */
export function mapProgram(d: Draft, syntax: Syntax, server: string, argv0: string | null, args: string[]): void {
  let program = server;
  if (path.basename(server) === 'tcpd' && argv0 !== null) {
    program = path.isAbsolute(argv0) ? argv0 : path.join(TCPD_DAEMON_DIR, argv0);
    const found = path.isAbsolute(argv0) ? '' : `, found as tcpd finds it, in ${TCPD_DAEMON_DIR}`;
    setKey(d, 'server', program, mappedAs(syntax, `server ${server} ${argv0}`,
      `tcpd is left out: superd runs the program itself${found}, and applies tcpd's hosts.allow and hosts.deny rules for ${path.basename(argv0)} as only_from and no_access`));
    d.wrappedAs.push(path.basename(argv0));
  } else {
    const base = path.basename(server);
    const note = argv0 !== null && argv0 !== base
      ? [mappedAs(syntax, `argv[0] '${argv0}'`, `superd passes the base name '${base}' as argv[0]; a program that reads its own name sees '${base}'`)]
      : [];
    setKey(d, 'server', program, ...note);
  }
  if (args.length > 0) setKey(d, 'args', quoteWords(args));
}

export interface Limits {
  transport: Transport;
  /** A program handed the listening socket (wait = yes): superd never sees its connections. */
  waitProgram: boolean;
  maxChildren: number | null;
  maxPerSource: number | null;
  rate: number | null;
  ratePerSource: number | null;
}

type LimitNotes = Partial<Record<'maxChildren' | 'maxPerSource' | 'rate' | 'ratePerSource', string[]>>;

/**
 * Writes the limits superd can apply here, each under its `notes`; the others
 * become comments saying why not (`settings` names them as the source did).
 */
export function mapLimits(d: Draft, syntax: Syntax, l: Limits, settings: Partial<Record<keyof Limits, string>>, notes: LimitNotes): void {
  if (l.maxChildren !== null) setKey(d, 'max_children', String(l.maxChildren), ...(notes.maxChildren ?? []));
  if (l.maxPerSource !== null) {
    const why = l.transport === 'udp'
      ? 'max_per_source counts connections, and udp has none'
      : l.transport === 'unix'
        ? "a unix socket's clients have no address"
        : l.waitProgram
          ? 'the handler of a tcp wait service accepts the connections itself, superd never sees them'
          : null;
    if (why === null) setKey(d, 'max_per_source', String(l.maxPerSource), ...(notes.maxPerSource ?? []));
    else d.notes.push(noEquivalent(syntax, settings.maxPerSource ?? 'max_per_source', why));
  }
  if (l.rate !== null) setKey(d, 'rate', String(l.rate), ...(notes.rate ?? []));
  if (l.ratePerSource !== null) {
    const why = l.transport === 'unix'
      ? "a unix socket's clients have no address"
      : l.transport === 'tcp' && l.waitProgram
        ? 'the handler of a tcp wait service accepts the connections itself, superd never sees them'
        : null;
    if (why === null) setKey(d, 'rate_per_source', String(l.ratePerSource), ...(notes.ratePerSource ?? []));
    else d.notes.push(noEquivalent(syntax, settings.ratePerSource ?? 'rate_per_source', why));
  }
}

/** A section name superd takes: letters, digits, `-` and `_`, at most 64 characters. */
export function sanitizeName(name: string): string {
  const clean = name.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '');
  return (clean === '' ? 'service' : clean).slice(0, 64);
}
