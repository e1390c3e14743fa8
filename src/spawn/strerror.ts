import { getSystemErrorMap } from 'node:util';

const messages = getSystemErrorMap();

/** `no such file or directory (ENOENT)` for a positive errno value. */
export function strerror(errno: number): string {
  const entry = messages.get(-errno);
  return entry === undefined ? `errno ${errno}` : `${entry[1]} (${entry[0]})`;
}
