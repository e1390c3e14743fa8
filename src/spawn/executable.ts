// Whether a handler's user may execute its program, asked before a handler is
// started with another user's ids. setpriv keeps root's capabilities until it
// has executed the program, so the kernel would not refuse it there: this
// check is what holds the handler to its user's permissions (the program's
// mode bits and a search bit on every directory above it). Each path is
// looked up at most once a second, so it costs no I/O per connection, and
// the verdict is kept as long as its looks are fresh.
import { stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { dirname } from 'node:path';
import { strerror } from '../sys/errors.js';

const FRESH_MS = 1000;

type Mode = Pick<Stats, 'mode' | 'uid' | 'gid'>;

/** The permission bit (execute, or search for a directory) for uid/gid with no supplementary groups. */
function allowed(st: Mode, uid: number, gid: number): boolean {
  if (uid === 0) return (st.mode & 0o111) !== 0;
  const bits = st.uid === uid ? st.mode & 0o100 : st.gid === gid ? st.mode & 0o010 : st.mode & 0o001;
  return bits !== 0;
}

/** The problem, or null: exec permission for uid/gid with no supplementary groups. */
export function executableBy(st: Mode & { isFile(): boolean }, uid: number, gid: number): string | null {
  if (!st.isFile()) return 'not a regular file';
  return allowed(st, uid, gid) ? null : `permission denied (EACCES) for uid ${uid} gid ${gid}`;
}

/** The problem, or null: may uid/gid reach files in this directory? (root always may) */
export function searchableBy(dir: string, st: Mode, uid: number, gid: number): string | null {
  if (uid === 0 || allowed(st, uid, gid)) return null;
  return `permission denied (EACCES) for uid ${uid} gid ${gid}: cannot search ${dir}`;
}

type Looked = Stats | NodeJS.ErrnoException;

export class ExecutableCheck {
  private readonly looked = new Map<string, { at: number; result: Looked | Promise<Looked> }>();
  /** The last verdict per program, good until its oldest look is no longer fresh. */
  private readonly verdicts = new Map<string, { until: number; uid: number; gid: number; verdict: string | null }>();

  /** null when the user may run it; the reason otherwise. Synchronous while the last looks are fresh. */
  check(program: string, uid: number, gid: number): string | null | Promise<string | null> {
    const known = this.verdicts.get(program);
    if (known !== undefined && known.uid === uid && known.gid === gid && performance.now() <= known.until) return known.verdict;
    const paths = [program];
    for (let dir = dirname(program); ; dir = dirname(dir)) {
      paths.push(dir);
      if (dir === dirname(dir)) break;
    }
    const results = paths.map((p) => this.look(p));
    if (results.some((r) => r instanceof Promise)) return Promise.all(results).then((all) => judge(paths, all, uid, gid));
    const verdict = judge(paths, results as Looked[], uid, gid);
    const oldest = Math.min(...paths.map((p) => this.looked.get(p)?.at ?? 0));
    this.verdicts.set(program, { until: oldest + FRESH_MS, uid, gid, verdict });
    return verdict;
  }

  private look(path: string): Looked | Promise<Looked> {
    const now = performance.now();
    const entry = this.looked.get(path);
    if (entry !== undefined && now - entry.at <= FRESH_MS) return entry.result;
    const fresh: { at: number; result: Looked | Promise<Looked> } = { at: now, result: stat(path).catch((err: NodeJS.ErrnoException) => err) };
    void (fresh.result as Promise<Looked>).then((r) => (fresh.result = r));
    this.looked.set(path, fresh);
    return fresh.result;
  }
}

/** paths[0] is the program, the rest its directories from the nearest up. */
function judge(paths: string[], results: Looked[], uid: number, gid: number): string | null {
  // From / down, so the first directory in the way is named.
  for (let i = results.length - 1; i >= 1; i--) {
    const r = results[i];
    if (r === undefined || r instanceof Error) continue; // the program's own look says what is missing
    const problem = searchableBy(paths[i] ?? '', r, uid, gid);
    if (problem !== null) return problem;
  }
  const program = results[0];
  if (program === undefined) return 'cannot be checked';
  if (program instanceof Error) return program.errno === undefined ? program.message : strerror(-program.errno);
  return executableBy(program, uid, gid);
}
