// systemd's readiness protocol (sd_notify): with Type=notify, systemd waits
// for READY=1 before it counts superd as started, and RELOADING=1 ... READY=1
// brackets a reload so that `systemctl reload` returns when it is done. The
// messages go to the unix datagram socket named by NOTIFY_SOCKET; without
// it (not under systemd) every call is a no-op.
import type { Logger } from './log/types.js';
import { sendUnixDatagram } from './sys/sockets.js';

export interface Lifecycle {
  ready(status: string): void;
  reloading(): void;
  stopping(): void;
}

/** A no-op where NOTIFY_SOCKET is unset; a failure to send is logged once, never fatal. */
export function systemdNotifier(socket: string | undefined, logger: Logger): Lifecycle {
  if (socket === undefined || socket === '') return { ready: () => undefined, reloading: () => undefined, stopping: () => undefined };
  let warned = false;
  const send = (message: string): void => {
    const failed = sendUnixDatagram(socket, message);
    if (failed === null || warned) return;
    warned = true;
    logger.log('warn', 'notify_failed', { path: socket, error: failed.message, message: 'cannot tell systemd about readiness and reloads' });
  };
  return {
    ready: (status) => send(`READY=1\nSTATUS=${status}`),
    // MONOTONIC_USEC: CLOCK_MONOTONIC, which libuv's hrtime reads on Linux.
    reloading: () => send(`RELOADING=1\nMONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`),
    stopping: () => send('STOPPING=1'),
  };
}
