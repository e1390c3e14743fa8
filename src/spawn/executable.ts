// Whether a handler's user may execute its program, asked before a handler is
// started through setpriv: setpriv itself could only report a missing program
// as exit status 127, after the connection was handed over. Looked up at most
// once a second per program, so it costs no I/O per connection.
import { stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { strerror } from './strerror.js';

const FRESH_MS = 1000;

/** The problem, or null: exec permission for uid/gid with no supplementary groups. */
export function executableBy(st: Pick<Stats, 'mode' | 'uid' | 'gid'> & { isFile(): boolean }, uid: number, gid: number): string | null {
  if (!st.isFile()) return 'not a regular file';
  const bits = uid === 0 ? (st.mode & 0o111) !== 0 : st.uid === uid ? st.mode & 0o100 : st.gid === gid ? st.mode & 0o010 : st.mode & 0o001;
  return bits ? null : `permission denied (EACCES) for uid ${uid} gid ${gid}`;
}

type Looked = Stats | NodeJS.ErrnoException;

export class ExecutableCheck {
  private readonly looked = new Map<string, { at: number; result: Looked | Promise<Looked> }>();

  /** null when the user may run it; the reason otherwise. Synchronous while the last look is fresh. */
  check(program: string, uid: number, gid: number): string | null | Promise<string | null> {
    const now = performance.now();
    let entry = this.looked.get(program);
    if (entry === undefined || now - entry.at > FRESH_MS) {
      const result = stat(program).catch((err: NodeJS.ErrnoException) => err);
      entry = { at: now, result };
      const settled = entry;
      void result.then((r) => (settled.result = r));
      this.looked.set(program, entry);
    }
    const { result } = entry;
    if (result instanceof Promise) return result.then((r) => judge(r, uid, gid));
    return judge(result, uid, gid);
  }
}

function judge(r: Looked, uid: number, gid: number): string | null {
  if (r instanceof Error) return r.errno === undefined ? r.message : strerror(-r.errno);
  return executableBy(r, uid, gid);
}
