// `superd status`: ask the running daemon over its control socket.
import type { CommonOptions } from '../cli.js';
import { queryControl } from '../control/server.js';
import { formatStatusTable } from '../control/status.js';

export async function runStatus(o: CommonOptions): Promise<number> {
  const status = await queryControl(o.controlSocket);
  if (status instanceof Error) {
    process.stderr.write(`superd status: ${status.message}\n`);
    return 1;
  }
  process.stdout.write(o.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatusTable(status));
  return 0;
}
