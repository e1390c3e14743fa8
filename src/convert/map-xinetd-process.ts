// An xinetd service's process attributes -> superd's nice, umask, groups and
// rlimit_* (SPEC §2). xinetd set each limit's soft and hard value alike, as
// superd does; rlimit_files is rlimit_nofile. What superd cannot take as it
// is (a value out of range, RLIMIT_RSS, which
// Linux does not enforce) is said in a comment.
import type { RlimitName } from '../config/types.js';
import { mappedAs, noEquivalent } from './map-common.js';
import { setKey, type Draft } from './types.js';
import { first } from './xinetd-attrs.js';
import { setting, type Resolved } from './xinetd-resolve.js';

const LIMITS: readonly [string, RlimitName][] = [['rlimit_as', 'as'], ['rlimit_cpu', 'cpu'], ['rlimit_data', 'data'], ['rlimit_files', 'nofile'], ['rlimit_stack', 'stack']];

export function mapProcessSettings(d: Draft, r: Resolved, fromDefaults: (name: string) => string[]): void {
  const get = (name: string): ReturnType<Resolved['single']['get']> => r.single.get(name);
  const nice = get('nice');
  if (nice !== undefined) {
    const n = Number(first(nice));
    const kept = Math.min(19, Math.max(-20, n));
    setKey(d, 'nice', String(kept), ...(kept === n ? [] : [mappedAs('xinetd', setting(nice), `nice values run from -20 to 19, and the kernel made it ${kept}`)]));
  }
  const umask = get('umask');
  if (umask !== undefined) setKey(d, 'umask', parseInt(first(umask), 8).toString(8).padStart(3, '0'), ...fromDefaults('umask'));
  const groups = get('groups');
  if (groups !== undefined && first(groups).toLowerCase() === 'yes') setKey(d, 'groups', 'yes', ...fromDefaults('groups'));
  for (const [attr, name] of LIMITS) {
    const a = get(attr);
    if (a === undefined) continue;
    const value = limitValue(first(a));
    if (name === 'nofile' && value === 'unlimited') {
      d.notes.push(noEquivalent('xinetd', setting(a), 'no process may have an unlimited number of open files (the kernel caps it at fs.nr_open): superd gives handlers min(1024, its hard limit); set rlimit_nofile to a number'));
      continue;
    }
    setKey(d, `rlimit_${name}`, value);
  }
  const rss = get('rlimit_rss');
  if (rss !== undefined) d.notes.push(noEquivalent('xinetd', setting(rss), 'Linux has not enforced RLIMIT_RSS since 2.6: rlimit_as or rlimit_data limit memory'));
}

/** xinetd's value (a number, K or M, or UNLIMITED) as superd writes it: the same, to the byte (superd(8) sets odd sizes with prlimit). */
function limitValue(v: string): string {
  return v.toUpperCase() === 'UNLIMITED' ? 'unlimited' : v.toUpperCase();
}
