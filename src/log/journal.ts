// Under systemd, superd's standard error is a stream to journald, which files
// every line at priority 6 (info) unless the line starts with `<N>`, a syslog
// priority it strips (SyslogLevelPrefix=yes, systemd's default). Without the
// prefix `journalctl -p warning` would show no `bind_failed`. Lines get the
// prefix only when standard error IS the journal: systemd says so in
// JOURNAL_STREAM=DEV:INODE (sd-daemon(3), systemd.exec(5)), and a variable
// inherited by a process whose stderr was redirected elsewhere (a shell in a
// unit's session, `superd 2>file`) names a stream that is not fd 2: both
// numbers are compared with fstat(2) of fd 2. A terminal, a pipe or a
// --log-file never get a prefix.
import { fstatSync } from 'node:fs';
import type { LogLevel } from './types.js';

/** syslog(3) priorities: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG. */
export const JOURNAL_PREFIX: Readonly<Record<LogLevel, string>> = { error: '<3>', warn: '<4>', info: '<6>', debug: '<7>' };

/** What identifies an open file: fstat's st_dev and st_ino. */
export interface FileIdentity {
  dev: bigint;
  ino: bigint;
}

/** systemd writes both numbers in decimal, unsigned. */
const JOURNAL_STREAM = /^(\d+):(\d+)$/;

/**
 * Whether the file open as fd 2 (its identity: null when fd 2 is not open)
 * is the stream JOURNAL_STREAM names. Unset, malformed or naming another
 * file: not the journal.
 */
export function isJournalStream(journalStream: string | undefined, stderr: FileIdentity | null): boolean {
  if (journalStream === undefined || stderr === null) return false;
  const m = JOURNAL_STREAM.exec(journalStream);
  if (m === null) return false;
  return BigInt(m[1] as string) === stderr.dev && BigInt(m[2] as string) === stderr.ino;
}

/** fd 2's identity, as bigints (an inode number may not fit a double), or null when fd 2 is not open. */
function stderrIdentity(): FileIdentity | null {
  try {
    const st = fstatSync(2, { bigint: true });
    return { dev: st.dev, ino: st.ino };
  } catch {
    return null;
  }
}

let decided: boolean | null = null;

/**
 * Whether superd's standard error is the journal: decided once, at the first
 * question (after run.ts has filled a closed fd 2), for the life of the
 * process. superd never moves its own fd 2.
 */
export function stderrIsJournal(): boolean {
  decided ??= isJournalStream(process.env.JOURNAL_STREAM, stderrIdentity());
  return decided;
}

/**
 * The prefix for a line superd writes to standard error itself, outside the
 * logger (`superd: cannot start: …`, a --log-file that failed): `<3>` and
 * the like when stderr is the journal, else nothing.
 */
export function stderrPrefix(level: LogLevel): string {
  return stderrIsJournal() ? JOURNAL_PREFIX[level] : '';
}
