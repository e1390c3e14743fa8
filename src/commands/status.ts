// `superd status`: ask the running daemon over its control socket.
import type { CommonOptions } from '../cli.js';
import { queryStatus } from '../control/client.js';
import { formatStatusTable } from '../control/status.js';

/** `superd status [NAME]`: every service, or the one named (exit 1 when there is none of that name). */
export async function runStatus(o: CommonOptions & { name?: string }): Promise<number> {
  const status = await queryStatus(o.controlSocket);
  if (!status.ok) {
    process.stderr.write(`superd status: ${status.error.message}\n`);
    return 1;
  }
  const all = status.value;
  const shown = o.name === undefined ? all : { ...all, services: all.services.filter((s) => s.name === o.name) };
  if (o.name !== undefined && shown.services.length === 0) {
    process.stderr.write(`superd status: no service named '${o.name}' (the daemon has ${all.services.length})\n`);
    return 1;
  }
  process.stdout.write(o.json ? `${JSON.stringify(shown, null, 2)}\n` : formatStatusTable(shown));
  return 0;
}
