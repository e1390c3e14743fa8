// xinetd.conf(5) syntax, read line by line: `service NAME` or `defaults`
// followed by a `{ … }` block of `attribute = value …` lines (`+=` and `-=`
// for the attributes that hold a set), and `include FILE` / `includedir DIR`
// between blocks. Only the block structure is checked here, and a problem in
// it stops the conversion. What xinetd makes of each attribute line (one it
// ignores, one whose value it refuses) is xinetd-resolve.ts's concern, and
// never stops the conversion of the other services, as it never stops
// xinetd from serving them.

import { fileLines } from '../config/scan.js';
import { fail, ok, type Result } from '../errors.js';
import { convertError, type ConvertError } from './types.js';
import { clip } from '../config/clip.js';

export type Operator = '=' | '+=' | '-=';

export interface XAttr {
  /** Lower-cased: xinetd compares attribute names case-insensitively. */
  name: string;
  op: Operator;
  /** The value split on blanks, as xinetd splits it (it knows no quoting, and no comment after a value). */
  values: string[];
  /** The value as written, for the comments that quote it. */
  raw: string;
  line: number;
  /** No blank between the name and the operator (`port=7`): xinetd cannot read the line, and skips the service. */
  glued: boolean;
}

export interface XBlock {
  kind: 'service' | 'defaults';
  /** The service name; '' for defaults. */
  name: string;
  file: string;
  line: number;
  attrs: XAttr[];
  /** Comment lines before the block and inside it. */
  comments: string[];
}

export interface XInclude {
  kind: 'include' | 'includedir';
  path: string;
  line: number;
}

export interface XFile {
  path: string;
  blocks: XBlock[];
  includes: XInclude[];
  /** Comment lines after the last block. */
  trailing: string[];
}

/**
 * How many values each attribute takes, from xinetd 2.3.15's tables
 * (parse.c): n > 0 exactly n (another count and xinetd ignores the line);
 * -1 any number, only with `=`; -2 any number, with `=`, `+=` and `-=`: a
 * set, which each `=` in a service clears. `interface` is `bind`.
 */
export const SERVICE_ATTRS: ReadonlyMap<string, number> = new Map([
  ['socket_type', 1], ['protocol', 1], ['wait', 1], ['user', 1], ['group', 1], ['server', 1], ['server_args', -1],
  ['instances', 1], ['log_on_success', -2], ['log_on_failure', -2], ['log_type', -1], ['only_from', -2], ['no_access', -2],
  ['access_times', -1], ['type', -1], ['rpc_version', 1], ['rpc_number', 1], ['id', 1], ['env', -2], ['port', 1],
  ['passenv', -2], ['flags', -1], ['nice', 1], ['redirect', 2], ['banner', 1], ['bind', 1], ['interface', 1],
  ['per_source', 1], ['groups', 1], ['banner_success', 1], ['banner_fail', 1], ['cps', 2], ['disable', 1],
  ['max_load', 1], ['rlimit_as', 1], ['rlimit_files', 1], ['rlimit_cpu', 1], ['rlimit_data', 1], ['rlimit_rss', 1],
  ['rlimit_stack', 1], ['v6only', 1], ['deny_time', 1], ['umask', 1], ['mdns', 1], ['libwrap', 1],
]);

/** The attributes a defaults block takes; xinetd ignores any other there. In defaults `=` adds to a set, as `+=` does. */
export const DEFAULTS_ATTRS: ReadonlyMap<string, number> = new Map([
  ['log_type', -2], ['log_on_success', -2], ['log_on_failure', -2], ['disabled', -2], ['no_access', -2], ['only_from', -2],
  ['instances', 1], ['passenv', -2], ['banner', 1], ['bind', 1], ['interface', 1], ['per_source', 1], ['groups', 1],
  ['banner_success', 1], ['banner_fail', 1], ['cps', 2], ['enabled', -2], ['max_load', 1], ['v6only', 1], ['umask', 1],
  ['mdns', 1],
]);

/** Attributes whose value is a set (xinetd's -2): they take `+=` and `-=` (env: not `-=`). */
export const LIST_ATTRS = new Set([...SERVICE_ATTRS].filter(([, n]) => n === -2).map(([name]) => name));

// A name, optional blanks, the operator. xinetd wants a blank before the operator: `glued` says when there is none.
const ATTRIBUTE = /^([A-Za-z_][A-Za-z0-9_]*)(\s*)(\+=|-=|=)\s*(.*)$/;
const OPENER = /^(service)\s+(\S+)\s*(\{)?$|^(defaults)\s*(\{)?$/;
const INCLUDE = /^(include|includedir)\s+(\S+)$/;

interface Open {
  block: XBlock;
  /** Whether `{` has been seen. */
  braced: boolean;
}

export function parseXinetd(path: string, text: string): Result<XFile, ConvertError> {
  const out: XFile = { path, blocks: [], includes: [], trailing: [] };
  const err = (line: number, message: string): Result<never, ConvertError> => fail(convertError('xinetd_syntax', path, line, message));
  let open: Open | null = null;
  let comments: string[] = [];

  const lines = fileLines(text);
  for (const [index, raw] of lines.entries()) {
    const n = index + 1;
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      // A comment inside a block belongs to that block, one outside to the next.
      (open === null ? comments : open.block.comments).push(line);
      continue;
    }

    if (open !== null && !open.braced) {
      if (line !== '{') {
        return err(n, `expected '{' after '${describe(open.block)}' at line ${open.block.line}, got '${clip(line)}'`);
      }
      open.braced = true;
      continue;
    }

    if (open !== null) {
      if (line === '}') {
        out.blocks.push(open.block);
        open = null;
        continue;
      }
      if (OPENER.test(line) || INCLUDE.test(line)) {
        return err(n, `'${clip(line)}' inside the block of ${describe(open.block)} opened at line ${open.block.line}: a '}' is missing`);
      }
      const m = ATTRIBUTE.exec(line);
      if (m === null) return err(n, `expected 'attribute = value' or '}' in the block of ${describe(open.block)}, got '${clip(line)}'`);
      const rawValue = (m[4] as string).trim();
      const attr: XAttr = {
        name: (m[1] as string).toLowerCase(), op: m[3] as Operator, raw: rawValue, values: rawValue === '' ? [] : rawValue.split(/\s+/), line: n, glued: m[2] === '',
      };
      if (attr.glued && open.block.kind === 'defaults') {
        // xinetd stops reading the defaults there and takes the rest of the block for broken entries.
        return err(n, `'${clip(line)}': xinetd needs a blank before the operator ('${m[1] as string} ${attr.op} …') and stops reading the defaults block at this line`);
      }
      open.block.attrs.push(attr);
      continue;
    }

    if (line === '{' || line === '}') return err(n, `'${line}' outside of a service or defaults block`);
    const opener = OPENER.exec(line);
    if (opener !== null) {
      const kind = opener[1] === 'service' ? 'service' : 'defaults';
      const block: XBlock = { kind, name: opener[2] ?? '', file: path, line: n, attrs: [], comments };
      comments = [];
      open = { block, braced: (opener[3] ?? opener[5]) === '{' };
      continue;
    }
    const include = INCLUDE.exec(line);
    if (include !== null) {
      out.includes.push({ kind: include[1] === 'include' ? 'include' : 'includedir', path: include[2] as string, line: n });
      continue;
    }
    if (ATTRIBUTE.test(line)) return err(n, `'${clip(line)}' is outside of any block: put it inside a 'service NAME { … }' or 'defaults { … }' block`);
    return err(n, `expected 'service NAME', 'defaults', 'include FILE' or 'includedir DIR', got '${clip(line)}'`);
  }
  if (open !== null) {
    return err(open.block.line, open.braced
      ? `the block of ${describe(open.block)} has no closing '}'`
      : `'${describe(open.block)}' is not followed by a '{ … }' block`);
  }
  out.trailing = comments;
  return ok(out);
}

function describe(b: XBlock): string {
  return b.kind === 'service' ? `service ${b.name}` : 'defaults';
}
