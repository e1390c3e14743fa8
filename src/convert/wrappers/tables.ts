// hosts.allow and hosts.deny read as tcpd reads them (hosts_access(5),
// hosts_options(5) as Debian builds tcpd): one rule per line, a backslash
// continuing it, `#` in the first column a comment, `DAEMONS : CLIENTS
// [: OPTIONS]` with `:` inside `[…]` not a separator. A rule's options may
// turn its verdict (allow, deny; twist and an unknown option refuse).

import { readFile } from 'node:fs/promises';
import { fail, ok, type Result } from '../../errors.js';
import { convertError, type ConvertError } from '../types.js';

export interface WrapRule {
  /** `hosts.allow:3`. */
  where: string;
  daemons: string[];
  clients: string[];
  /** What the rule does to the clients it matches, from its file and its options. */
  verdict: 'allow' | 'deny';
  /** Why the verdict is not the file's (twist, a bad option…), or null. */
  verdictWhy: string | null;
}

export interface HostsAccess {
  allowFile: string;
  denyFile: string;
  /** hosts.allow's rules, then hosts.deny's. */
  rules: WrapRule[];
}

/** tcpd's split_at: the text before the first `sep` outside `[…]`, and the rest (null if none). */
function splitAt(text: string, sep: string): [string, string | null] {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '[') depth++;
    else if (c === ']') depth = Math.max(0, depth - 1);
    else if (c === sep && depth === 0) return [text.slice(0, i), text.slice(i + 1)];
  }
  return [text, null];
}

const words = (list: string): string[] => list.split(/[\s,]+/).filter((w) => w !== '');

/** The options keywords hosts_options(5) knows; any other makes tcpd refuse the client. */
const OPTIONS = new Set(['severity', 'allow', 'deny', 'spawn', 'twist', 'rfc931', 'setenv', 'umask', 'user', 'nice', 'keepalive', 'linger', 'banners']);

/** The verdict of a rule's options (`: spawn … : allow`), or null when they leave the file's. */
function optionsVerdict(options: string): { verdict: 'allow' | 'deny'; why: string } | null {
  // Options are separated by ':' not preceded by a backslash.
  for (const raw of options.split(/(?<!\\):/)) {
    const option = raw.trim();
    if (option === '') continue;
    const keyword = (/^[A-Za-z0-9_]+/.exec(option)?.[0] ?? '').toLowerCase();
    if (keyword === 'allow') return { verdict: 'allow', why: "its option 'allow'" };
    if (keyword === 'deny') return { verdict: 'deny', why: "its option 'deny'" };
    if (keyword === 'twist') return { verdict: 'deny', why: "its option 'twist' ran another command instead of the service" };
    if (!OPTIONS.has(keyword)) return { verdict: 'deny', why: `tcpd refused the clients it matches: '${option}' is not an option it knows` };
  }
  return null;
}

export function parseHostsTable(file: string, text: string, verdict: 'allow' | 'deny'): WrapRule[] {
  const rules: WrapRule[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let line = lines[i] ?? '';
    // A backslash at the end of a line continues it.
    while (line.endsWith('\\') && i + 1 < lines.length) line = line.slice(0, -1) + (lines[++i] ?? '');
    // tcpd takes only a '#' in the first column as a comment.
    if (line.startsWith('#') || line.trim() === '') continue;
    const [daemons, rest] = splitAt(line, ':');
    if (rest === null) continue; // tcpd warns "missing ':' separator" and skips it
    const [clients, options] = splitAt(rest, ':');
    const decided = options === null ? null : optionsVerdict(options);
    rules.push({
      where: `${file}:${start}`,
      daemons: words(daemons),
      clients: words(clients),
      verdict: decided?.verdict ?? verdict,
      verdictWhy: decided?.why ?? null,
    });
  }
  return rules;
}

async function readTable(file: string): Promise<Result<string, ConvertError>> {
  try {
    return ok(await readFile(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // tcpd reads a missing table as an empty one.
    if (code === 'ENOENT') return ok('');
    return fail(convertError('unreadable', file, 0,
      `cannot read it (${code ?? String(e)}), and without it the access rules tcpd and xinetd applied are unknown: run as root, or name a copy with --hosts-allow and --hosts-deny`));
  }
}

export async function loadHostsAccess(allowFile: string, denyFile: string): Promise<Result<HostsAccess, ConvertError>> {
  const allow = await readTable(allowFile);
  if (!allow.ok) return allow;
  const deny = await readTable(denyFile);
  if (!deny.ok) return deny;
  return ok({ allowFile, denyFile, rules: [...parseHostsTable(allowFile, allow.value, 'allow'), ...parseHostsTable(denyFile, deny.value, 'deny')] });
}
