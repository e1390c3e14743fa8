// Whether a file in the services directory is written in another daemon's
// syntax (xinetd's or inetd.conf's) rather than superd's INI, decided by the
// first line that is neither blank nor a comment: every xinetd file starts
// with `service`, `defaults` or an include directive, every inetd.conf line
// is an entry of at least six fields, and every superd file starts with
// `[section]` or `key = value`. One line decides, so a superd file with one
// stray line further down is still superd's, and gets `superd check`'s own
// messages; a foreign one gets one error naming `superd convert` (file.ts).

import { fileLines } from './scan.js';

export type Syntax = 'xinetd' | 'inetd';

export const SOCKET_TYPES = ['stream', 'dgram', 'raw', 'rdm', 'seqpacket'] as const;

const XINETD_START = /^(service\s+\S+|defaults)\s*(\{\s*)?$|^(include|includedir)\s+\S+$/;
/** superd's first meaningful line: a section header or `key = value` with a bare key. */
export const INI_START = /^\[[^\]]*\]\s*$|^[A-Za-z0-9_.-]+\s*=/;
/** inetd.conf's protocol field: tcp, udp6, tcp46, rpc/tcp, unix, with buffer options. */
const INETD_PROTOCOL = /^(rpc\/)?(tcp|udp)(4|6|46)?(,\S*)?$|^unix(,\S*)?$/;
/** inetd.conf's wait field: `nowait`, `wait.40` (OpenBSD, Debian), `nowait:40` (NetBSD), `nowait/10/5/2` (FreeBSD). */
export const INETD_WAIT = /^(wait|nowait)([.:]\d+|(\/\d+){1,3})?$/;
/** OpenBSD's `ADDRESS:` line, which sets the address for the lines after it. */
export const INETD_HOST_LINE = /^[^\s=[\]]+:$/;

export const meaningful = (line: string): boolean => line !== '' && !line.startsWith('#') && !line.startsWith(';');

/** Whether a line (trimmed) is an inetd.conf entry: `SERVICE SOCKET_TYPE PROTOCOL WAIT USER SERVER [ARGS…]`. */
function isInetdEntry(line: string): boolean {
  const f = line.split(/\s+/);
  return (
    f.length >= 6 &&
    (SOCKET_TYPES as readonly string[]).includes(f[1] ?? '') &&
    INETD_PROTOCOL.test(f[2] ?? '') &&
    INETD_WAIT.test(f[3] ?? '')
  );
}

/**
 * Whether a services.d file is in xinetd or inetd.conf syntax rather than
 * superd's INI, and the line that shows it; null for superd's syntax (valid or
 * not) and for anything else. Pure, for `superd check`: one error that names
 * `superd convert` instead of one per line.
 */
export function looksForeign(text: string): { syntax: Syntax; line: number } | null {
  const lines = fileLines(text);
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (!meaningful(line)) continue;
    if (INETD_HOST_LINE.test(line)) continue; // decided by the entry after it
    if (INI_START.test(line)) return null;
    if (XINETD_START.test(line)) return { syntax: 'xinetd', line: index + 1 };
    if (isInetdEntry(line)) return { syntax: 'inetd', line: index + 1 };
    return null;
  }
  return null;
}
