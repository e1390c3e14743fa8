// Whether a handler needs a session of its own, or only a process group.
//
// Every handler leads its own process group (SPEC §3): superd ends a handler
// by signalling its group, and a signal aimed at superd's group does not
// reach it. A session of its own as well (setsid) is needed only to be rid of
// a controlling terminal, and superd has one only when it was started from a
// terminal. Under a service manager it has none, and a handler in superd's
// session cannot acquire one either: only a session's leader can.
//
// setsid() is dear on Linux: with CONFIG_SCHED_AUTOGROUP (Debian's default)
// every new session gets a scheduler task group, made in the child and torn
// down when superd reaps it. It was the largest single cost of superd's own
// CPU per connection (bench/README.md, "A session per handler").
import { readFileSync } from 'node:fs';

/** tty_nr, field 7 of a /proc/PID/stat line: 0 when the process has no controlling terminal. */
export function controllingTerminal(statLine: string): number {
  // The command name (field 2) is in parentheses and may hold anything, ')' and spaces included.
  const fields = statLine.slice(statLine.lastIndexOf(')') + 2).split(' ');
  return Number(fields[4] ?? Number.NaN);
}

/** Whether handlers get a session of their own: when superd has a controlling terminal, or cannot tell. */
export function handlersNeedSession(): boolean {
  try {
    const tty = controllingTerminal(readFileSync('/proc/self/stat', 'utf8'));
    return !Number.isInteger(tty) || tty !== 0;
  } catch {
    return true;
  }
}
