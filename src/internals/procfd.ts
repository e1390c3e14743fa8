// What the kernel says of one of superd's own descriptors (/proc/self), for
// the checks: what it is open on, and whether it is non-blocking. Read with
// Node's fs alone, so that a check proves a descriptor by the kernel's word
// and not by the same internals it is checking.
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { O_NONBLOCK } from '../sys/constants.js';

/** What `fd` is open on (`socket:[123]`, `pipe:[456]`), or null when it is not open. */
export function fdLink(fd: number): string | null {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
}

/** Whether `fd` has O_NONBLOCK set, or null when it is not open. */
export function isNonBlocking(fd: number): boolean | null {
  let text: string;
  try {
    text = readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1');
  } catch {
    return null;
  }
  const flags = /^flags:\s*([0-7]+)$/m.exec(text)?.[1];
  return flags === undefined ? null : (parseInt(flags, 8) & O_NONBLOCK) !== 0;
}

/** Whether /proc/self can be read here at all (a check that needs it is otherwise untested, not failed). */
export function procReadable(): boolean {
  return existsSync('/proc/self/fdinfo');
}

/**
 * Whether `fd`, open on `link` before something was to close it, still is.
 * It is left so: what should have closed it may yet, and the number may then
 * be another's.
 */
export function stillOpen(fd: number, link: string | null): boolean {
  return link !== null && fdLink(fd) === link;
}
