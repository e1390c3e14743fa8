// Keys and "did you mean": the keys of SPEC §2, and the hint an unknown key gets.

import { clip } from './clip.js';

export const KEYS = [
  'protocol', 'port', 'bind', 'path', 'socket_mode', 'wait', 'server', 'args', 'builtin',
  'user', 'group', 'max_children', 'queue', 'max_per_source', 'rate', 'rate_per_source',
  'only_from', 'no_access', 'env', 'pass_env', 'timeout', 'stderr', 'disabled',
  'proxy_protocol', 'proxy_from', 'proxy_timeout',
  'tls_cert', 'tls_key', 'tls_client_ca', 'tls_min_version', 'tls_timeout',
  'nice', 'umask', 'rlimit_as', 'rlimit_cpu', 'rlimit_core', 'rlimit_data', 'rlimit_fsize', 'rlimit_nofile', 'rlimit_nproc', 'rlimit_stack', 'groups', 'no_new_privileges',
] as const;
export type Key = (typeof KEYS)[number];

export const isKey = (k: string): k is Key => (KEYS as readonly string[]).includes(k);

/**
 * What people bring from xinetd, FreeBSD inetd and systemd socket units.
 * Names are compared lower-cased with `-` as `_`.
 */
const SYNONYMS: ReadonlyMap<string, { key: Key | null; note?: string }> = new Map([
  ['instances', { key: 'max_children' }],
  ['maxconnections', { key: 'max_children' }],
  ['max_connections', { key: 'max_children' }],
  ['per_source', { key: 'max_per_source' }],
  ['maxconnectionspersource', { key: 'max_per_source' }],
  ['cps', { key: 'rate', note: 'rate counts new handlers per minute' }],
  ['server_args', { key: 'args' }],
  ['arguments', { key: 'args' }],
  ['socket_type', { key: 'protocol', note: 'stream is protocol = tcp, dgram is protocol = udp' }],
  ['type', { key: 'builtin', note: "xinetd's INTERNAL services are builtin = echo and the like" }],
  ['interface', { key: 'bind' }],
  ['listen', { key: 'bind' }],
  ['address', { key: 'bind' }],
  ['listenstream', { key: 'port', note: 'tcp is port (and bind), unix sockets are path' }],
  ['listendatagram', { key: 'port', note: 'with protocol = udp' }],
  ['socket', { key: 'path' }],
  ['socketmode', { key: 'socket_mode' }],
  ['mode', { key: 'socket_mode' }],
  ['passenv', { key: 'pass_env' }],
  ['environment', { key: 'env' }],
  ['setenv', { key: 'env' }],
  ['program', { key: 'server' }],
  ['command', { key: 'server' }],
  ['exec', { key: 'server' }],
  ['execstart', { key: 'server', note: 'and the arguments in args' }],
  ['uid', { key: 'user' }],
  ['gid', { key: 'group' }],
  ['disable', { key: 'disabled' }],
  ['enabled', { key: 'disabled', note: 'disabled = yes turns a service off' }],
  ['accept', { key: 'wait', note: "systemd's Accept=yes is wait = no" }],
  ['backlog', { key: 'queue' }],
  ['standarderror', { key: 'stderr' }],
  ['accept_proxy', { key: 'proxy_protocol', note: "HAProxy's bind option; the balancer's addresses go in proxy_from" }],
  ['set_real_ip_from', { key: 'proxy_from', note: 'with proxy_protocol = v1, v2 or any' }],
  ['cert', { key: 'tls_cert' }],
  ['certificate', { key: 'tls_cert' }],
  ['sslcertificate', { key: 'tls_cert' }],
  ['sslcertificatekeyfile', { key: 'tls_key' }],
  ['key', { key: 'tls_key' }],
  ['cafile', { key: 'tls_client_ca', note: 'client certificates are then required' }],
  ['verify', { key: 'tls_client_ca', note: 'client certificates are then required' }],
  ['sslversionmin', { key: 'tls_min_version' }],
  ['log_on_success', { key: null, note: 'superd logs every accepted connection and every exit' }],
  ['log_on_failure', { key: null, note: 'superd logs every refused connection with its reason' }],
  ['log_type', { key: null, note: 'use the --log-file and --log-format options' }],
  ['banner', { key: null }],
  ['redirect', { key: null }],
  ['flags', { key: null }],
  ['id', { key: null, note: 'the section name is the service name' }],
  ['rlimit_files', { key: 'rlimit_nofile' }],
  ['rlimit_rss', { key: null, note: 'Linux does not enforce RLIMIT_RSS: use rlimit_as or rlimit_data' }],
  ['limitnofile', { key: 'rlimit_nofile' }],
  ['limitas', { key: 'rlimit_as' }],
  ['limitcpu', { key: 'rlimit_cpu' }],
  ['limitcore', { key: 'rlimit_core' }],
  ['limitnproc', { key: 'rlimit_nproc' }],
  ['nonewprivileges', { key: 'no_new_privileges' }],
  ['nnp', { key: 'no_new_privileges' }],
  ['supplementarygroups', { key: 'groups', note: "groups = yes gives the handler its user's supplementary groups" }],
  ['access_times', { key: null }],
]);

/**
 * Words longer than this get no suggestion: no key or name is that long, and
 * the distance costs the product of the lengths (a key of 900 KiB took minutes).
 */
export const MAX_SUGGEST_CHARS = 64;

/**
 * Optimal string alignment distance: Levenshtein that also counts a swap of
 * neighbours as one. Past `max` the exact figure does not matter: it returns
 * max + 1 as soon as it is sure, so comparing against a long list stays cheap.
 */
export function editDistance(a: string, b: string, max = Number.POSITIVE_INFINITY): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  // Three rows: the transposition looks two rows back.
  let before = new Int32Array(b.length + 1);
  let prev = Int32Array.from({ length: b.length + 1 }, (_, j) => j);
  let prevMin = 0;
  for (let i = 1; i <= a.length; i++) {
    const row = new Int32Array(b.length + 1);
    row[0] = i;
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, (before[j - 2] as number) + 1);
      row[j] = v;
      if (v < rowMin) rowMin = v;
    }
    // Every later cell builds on one of the last two rows, plus something.
    if (rowMin > max && prevMin > max) return max + 1;
    before = prev;
    prev = row;
    prevMin = rowMin;
  }
  return Math.min(prev[b.length] as number, max + 1);
}

/** Finds the candidate a mistyped word was meant to be, or null. */
export type Suggest = (word: string, candidates: Iterable<string>) => string | null;

/**
 * The nearest candidate within a third of the word's length (at least 1), or
 * null. Bounded work: words over MAX_SUGGEST_CHARS get none, and a candidate
 * whose length alone puts it out of reach is not compared.
 */
export const nearest: Suggest = (word, candidates) => {
  if (word.length > MAX_SUGGEST_CHARS) return null;
  let best: string | null = null;
  let bestDistance = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    // The distance is at least the difference in length.
    if (Math.abs(c.length - word.length) >= bestDistance) continue;
    const dist = editDistance(word, c, bestDistance - 1);
    if (dist < bestDistance) {
      best = c;
      bestDistance = dist;
    }
  }
  return best;
};

/** For problems nobody will see (past a file's limit): no work spent on a hint. */
export const noSuggestion: Suggest = () => null;

const CANDIDATES: readonly string[] = [...KEYS, ...SYNONYMS.keys()];

export function unknownKeyMessage(key: string, suggest: Suggest = nearest): string {
  const head = `unknown key '${clip(key)}'`;
  const known = `${head} (known keys: ${KEYS.join(', ')})`;
  // Only what could be a key is looked at: lower-casing a megabyte is wasted.
  if (key.length > MAX_SUGGEST_CHARS) return known;
  const norm = key.toLowerCase().replace(/-/g, '_');
  const direct = isKey(norm) ? norm : null;
  const guess = direct ?? (SYNONYMS.has(norm) ? norm : suggest(norm, CANDIDATES));
  if (guess === null) return known;
  if (isKey(guess)) return `${head} (did you mean '${guess}'?)`;
  const syn = SYNONYMS.get(guess);
  if (syn === undefined) return head;
  if (syn.key === null) {
    return `${head} (superd has no equivalent of '${guess}'${syn.note ? `: ${syn.note}` : ''})`;
  }
  return `${head} (did you mean '${syn.key}'?${syn.note ? ` ${syn.note}` : ''})`;
}
