// Which syntax a file is written in: xinetd's, inetd.conf's, or neither
// (superd's own INI, or something else). Decided by the first line that is
// neither blank nor a comment: every xinetd file starts with `service`,
// `defaults` or an include directive, every inetd.conf line is an entry of at
// least six fields, and every superd file starts with `[section]` or
// `key = value`. One line decides, so a superd file with one stray line
// further down is still superd's, and gets `superd check`'s own messages.

import { fileLines } from '../config/scan.js';
import { convertError, type ConvertError, type Syntax } from './types.js';
import { clip } from '../config/clip.js';
import { fail, ok, type Result } from '../errors.js';

export const SOCKET_TYPES = ['stream', 'dgram', 'raw', 'rdm', 'seqpacket'] as const;

const XINETD_START = /^(service\s+\S+|defaults)\s*(\{\s*)?$|^(include|includedir)\s+\S+$/;
/** superd's first meaningful line: a section header or `key = value` with a bare key. */
const INI_START = /^\[[^\]]*\]\s*$|^[A-Za-z0-9_.-]+\s*=/;
/** inetd.conf's protocol field: tcp, udp6, tcp46, rpc/tcp, unix, with buffer options. */
const INETD_PROTOCOL = /^(rpc\/)?(tcp|udp)(4|6|46)?(,\S*)?$|^unix(,\S*)?$/;
/** inetd.conf's wait field: `nowait`, `wait.40` (OpenBSD, Debian), `nowait:40` (NetBSD), `nowait/10/5/2` (FreeBSD). */
export const INETD_WAIT = /^(wait|nowait)([.:]\d+|(\/\d+){1,3})?$/;
/** OpenBSD's `ADDRESS:` line, which sets the address for the lines after it. */
const INETD_HOST_LINE = /^[^\s=[\]]+:$/;

const meaningful = (line: string): boolean => line !== '' && !line.startsWith('#') && !line.startsWith(';');

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

/**
 * The syntax of a file given to `superd convert`. A file with nothing but
 * comments (an inetd.conf whose every line is commented out) converts to
 * nothing whatever its syntax, so it is taken as inetd.conf.
 */
export function detectSyntax(file: string, text: string): Result<Syntax, ConvertError> {
  const found = looksForeign(text);
  if (found !== null) return ok(found.syntax);
  const lines = fileLines(text);
  const index = lines.findIndex((l) => meaningful(l.trim()) && !INETD_HOST_LINE.test(l.trim()));
  if (index < 0) return ok('inetd');
  const first = (lines[index] ?? '').trim();
  if (INI_START.test(first)) {
    return fail(convertError('already_superd', file, index + 1,
      'this is already a superd service file ([section] and key = value): copy it into the services dir as it is'));
  }
  return fail(convertError('unknown_syntax', file, index + 1,
    `neither xinetd syntax ('service NAME' and a { … } block) nor inetd.conf syntax ` +
      `('SERVICE stream tcp nowait USER PROGRAM ARGS…'): '${clip(first)}'`));
}
