// Keys and "did you mean": the keys of SPEC §2, and the hint an unknown key gets.

export const KEYS = [
  'protocol', 'port', 'bind', 'path', 'socket_mode', 'wait', 'server', 'args', 'builtin',
  'user', 'group', 'max_children', 'queue', 'max_per_source', 'rate', 'rate_per_source',
  'only_from', 'no_access', 'env', 'pass_env', 'timeout', 'stderr', 'disabled',
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
  ['log_on_success', { key: null, note: 'superd logs every accepted connection and every exit' }],
  ['log_on_failure', { key: null, note: 'superd logs every refused connection with its reason' }],
  ['log_type', { key: null, note: 'use the --log-file and --log-format options' }],
  ['banner', { key: null }],
  ['redirect', { key: null }],
  ['flags', { key: null }],
  ['id', { key: null, note: 'the section name is the service name' }],
  ['nice', { key: null }],
  ['umask', { key: null }],
  ['access_times', { key: null }],
]);

/** Optimal string alignment distance: Levenshtein that also counts a swap of neighbours as one. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number): number => (d[i] as number[])[j] as number;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = v;
    }
  }
  return at(a.length, b.length);
}

/** The nearest candidate within a third of the word's length (at least 1), or null. */
export function nearest(word: string, candidates: Iterable<string>): string | null {
  let best: string | null = null;
  let bestDistance = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const dist = editDistance(word, c);
    if (dist < bestDistance) {
      best = c;
      bestDistance = dist;
    }
  }
  return best;
}

export function unknownKeyMessage(key: string): string {
  const norm = key.toLowerCase().replace(/-/g, '_');
  const direct = isKey(norm) ? norm : null;
  const guess = direct ?? (SYNONYMS.has(norm) ? norm : nearest(norm, [...KEYS, ...SYNONYMS.keys()]));
  const head = `unknown key '${key}'`;
  if (guess === null) return `${head} (known keys: ${KEYS.join(', ')})`;
  if (isKey(guess)) return `${head} (did you mean '${guess}'?)`;
  const syn = SYNONYMS.get(guess);
  if (syn === undefined) return head;
  if (syn.key === null) {
    return `${head} (superd has no equivalent of '${guess}'${syn.note ? `: ${syn.note}` : ''})`;
  }
  return `${head} (did you mean '${syn.key}'?${syn.note ? ` ${syn.note}` : ''})`;
}
