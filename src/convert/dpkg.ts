// What dpkg knows: which version of a package is installed here, and how
// Debian orders versions. `superd convert` asks it which openbsd-inetd read
// an inetd.conf (map-inetd.ts).

/** dpkg's database of installed packages. */
export const DPKG_STATUS = '/var/lib/dpkg/status';

/**
 * The version of `pkg` that a dpkg status file says is installed, or null:
 * its stanza's `Status:` ends in `installed` (`install ok installed`,
 * `hold ok installed`), not `config-files` or `not-installed`.
 */
export function installedVersion(statusText: string, pkg: string): string | null {
  for (const stanza of statusText.split(/\n\s*\n/)) {
    const field = (name: string): string | null => {
      const m = new RegExp(`^${name}:[ \\t]*(.*?)[ \\t]*$`, 'm').exec(stanza);
      return m === null ? null : (m[1] as string);
    };
    if (field('Package') !== pkg) continue;
    const status = field('Status')?.split(/\s+/) ?? [];
    const version = field('Version');
    if (status[status.length - 1] === 'installed' && version !== null && version !== '') return version;
  }
  return null;
}

/** Debian's version order (dpkg's): EPOCH:UPSTREAM-REVISION, `~` before everything, letters before other signs. */
export function compareDebianVersions(a: string, b: string): number {
  const split = (v: string): [number, string, string] => {
    const epoch = /^(\d+):/.exec(v);
    const rest = epoch === null ? v : v.slice(epoch[0].length);
    const dash = rest.lastIndexOf('-');
    return [epoch === null ? 0 : Number(epoch[1]), dash < 0 ? rest : rest.slice(0, dash), dash < 0 ? '' : rest.slice(dash + 1)];
  };
  const [ea, ua, ra] = split(a);
  const [eb, ub, rb] = split(b);
  if (ea !== eb) return ea - eb;
  return compareVersionPart(ua, ub) || compareVersionPart(ra, rb);
}

function compareVersionPart(a: string, b: string): number {
  const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
  const order = (c: string | undefined): number => {
    if (c === undefined || isDigit(c)) return 0;
    if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
    if (c === '~') return -1;
    return c.charCodeAt(0) + 256;
  };
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while ((i < a.length && !isDigit(a[i])) || (j < b.length && !isDigit(b[j]))) {
      const d = order(a[i]) - order(b[j]);
      if (d !== 0) return d;
      i++;
      j++;
    }
    while (a[i] === '0') i++;
    while (b[j] === '0') j++;
    let first = 0;
    while (isDigit(a[i]) && isDigit(b[j])) {
      if (first === 0) first = (a.charCodeAt(i) as number) - (b.charCodeAt(j) as number);
      i++;
      j++;
    }
    if (isDigit(a[i])) return 1;
    if (isDigit(b[j])) return -1;
    if (first !== 0) return first;
  }
  return 0;
}
