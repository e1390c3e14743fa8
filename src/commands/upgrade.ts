// `superd upgrade` (SPEC §1): asks the running daemon, over its control
// socket, to re-exec itself in place (src/upgrade/) and waits for the answer,
// which only the new image gives: exit 0 printing its pid and versions. A new
// image that failed its trial, or an exec that failed, is answered by the old
// one, which serves on: exit 1 with the reason.
import type { CommonOptions } from '../cli.js';
import { requestUpgrade } from '../control/client.js';
import { formatUpgrade } from '../control/status.js';

export async function runUpgrade(o: CommonOptions): Promise<number> {
  const r = await requestUpgrade(o.controlSocket);
  if (r.ok) {
    process.stdout.write(formatUpgrade(r.value));
    return 0;
  }
  process.stderr.write(`superd upgrade: ${r.error.message}\n`);
  return 1;
}
