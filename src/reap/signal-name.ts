// The name of the signal that ended a handler, as its `exited` line says it
// (`SIGTERM`): Node's own table, `SIG<n>` for a number it has no name for.
import { constants } from 'node:os';

const signalNames: ReadonlyMap<number, string> = new Map(
  Object.entries(constants.signals).map(([name, num]) => [num, name]),
);

export function signalName(num: number): string {
  return signalNames.get(num) ?? `SIG${num}`;
}
