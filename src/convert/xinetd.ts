// xinetd.conf(5) syntax, read line by line: `service NAME` or `defaults`
// followed by a `{ … }` block of `attribute = value …` lines (`+=` and `-=`
// for the attributes that hold a set), and `include FILE` / `includedir DIR`
// between blocks. Only the syntax is checked here, and the attribute names:
// what the values mean is map-xinetd.ts's concern.

import { fileLines } from '../config/scan.js';
import { nearest } from '../config/suggest.js';
import { fail, ok, type Result } from '../errors.js';
import { convertError, type ConvertError } from './types.js';
import { clip } from '../config/clip.js';

export type Operator = '=' | '+=' | '-=';

export interface XAttr {
  name: string;
  op: Operator;
  /** The value split on blanks, as xinetd splits it (it knows no quoting). */
  values: string[];
  /** The value as written, for the comments that quote it. */
  raw: string;
  line: number;
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

/** Attributes whose value is a set: they take `+=` and `-=` (env: not `-=`) and may repeat. */
export const LIST_ATTRS = new Set(['only_from', 'no_access', 'log_on_success', 'log_on_failure', 'passenv', 'env']);

/** Attributes of a service (xinetd.conf(5), and v6only, which xinetd 2.3.15 reads too). */
const SERVICE_ATTRS = new Set([
  'id', 'type', 'flags', 'disable', 'socket_type', 'protocol', 'wait', 'user', 'group', 'instances', 'nice',
  'server', 'server_args', 'libwrap', 'only_from', 'no_access', 'access_times', 'log_type', 'log_on_success',
  'log_on_failure', 'rpc_version', 'rpc_number', 'env', 'passenv', 'port', 'redirect', 'bind', 'interface',
  'banner', 'banner_success', 'banner_fail', 'per_source', 'cps', 'max_load', 'groups', 'mdns', 'umask',
  'rlimit_as', 'rlimit_files', 'rlimit_cpu', 'rlimit_data', 'rlimit_rss', 'rlimit_stack', 'deny_time', 'v6only',
]);

/** What only a service can say: in `defaults` these are errors. */
const SERVICE_ONLY = new Set(['id', 'type', 'socket_type', 'protocol', 'wait', 'user', 'group', 'server', 'server_args', 'port', 'redirect', 'rpc_version', 'rpc_number', 'disable']);

/** What only `defaults` can say: the lists of service ids to disable or to enable. */
const DEFAULTS_ONLY = new Set(['disabled', 'enabled']);

const ATTRIBUTE = /^([A-Za-z_][A-Za-z0-9_]*)\s*(\+=|-=|=)\s*(.*)$/;
const OPENER = /^(service)\s+(\S+)\s*(\{)?$|^(defaults)\s*(\{)?$/;
const INCLUDE = /^(include|includedir)\s+(\S+)$/;

interface Open {
  block: XBlock;
  /** Whether `{` has been seen. */
  braced: boolean;
  seen: Map<string, number>;
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
      const attr: XAttr = { name: m[1] as string, op: m[2] as Operator, raw: (m[3] as string).trim(), values: [], line: n };
      attr.values = attr.raw === '' ? [] : attr.raw.split(/\s+/);
      const problem = checkAttribute(open, attr);
      if (problem !== null) return err(n, problem);
      open.block.attrs.push(attr);
      continue;
    }

    if (line === '{' || line === '}') return err(n, `'${line}' outside of a service or defaults block`);
    const opener = OPENER.exec(line);
    if (opener !== null) {
      const kind = opener[1] === 'service' ? 'service' : 'defaults';
      const block: XBlock = { kind, name: opener[2] ?? '', file: path, line: n, attrs: [], comments };
      comments = [];
      open = { block, braced: (opener[3] ?? opener[5]) === '{', seen: new Map() };
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

/** The error for an attribute that xinetd would not take here, or null. */
function checkAttribute(open: Open, a: XAttr): string | null {
  const inDefaults = open.block.kind === 'defaults';
  const known = SERVICE_ATTRS.has(a.name) || DEFAULTS_ONLY.has(a.name);
  if (!known) {
    const guess = nearest(a.name, [...SERVICE_ATTRS, ...DEFAULTS_ONLY]);
    return `unknown xinetd attribute '${clip(a.name)}'${guess === null ? '' : ` (did you mean '${guess}'?)`}`;
  }
  if (inDefaults && SERVICE_ONLY.has(a.name)) return `'${a.name}' belongs in a service block, not in defaults`;
  if (!inDefaults && DEFAULTS_ONLY.has(a.name)) {
    return `'${a.name}' is a list of service ids for the defaults block${a.name === 'disabled' ? '; a service says disable = yes' : ''}`;
  }
  const list = LIST_ATTRS.has(a.name) || DEFAULTS_ONLY.has(a.name);
  if (a.op !== '=' && !list) return `'${a.name}' takes only '=', not '${a.op}'`;
  if (a.op === '-=' && a.name === 'env') return "'env' takes '=' and '+=', not '-='";
  // In defaults every cumulative attribute may repeat; in a service only the sets.
  const first = open.seen.get(a.name);
  if (first !== undefined && !list) return `'${a.name}' is repeated (first set at line ${first}): keep only one`;
  if (first === undefined) open.seen.set(a.name, a.line);
  return null;
}
