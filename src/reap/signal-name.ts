import { constants } from 'node:os';
import type { ExitStatus } from '../spawn/types.js';

const signalNames = new Map<number, string>(
  Object.entries(constants.signals).map(([name, num]) => [num, name]),
);

export function signalName(num: number): string {
  return signalNames.get(num) ?? `SIG${num}`;
}

/** Decodes a wait(2) status word (Linux layout). */
export function decodeWaitStatus(status: number): ExitStatus {
  const termSig = status & 0x7f;
  if (termSig === 0) return { code: (status >> 8) & 0xff, signal: null };
  return { code: null, signal: signalName(termSig) };
}
