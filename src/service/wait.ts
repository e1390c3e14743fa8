// A wait service's rounds (SPEC §3): what wakes it is judged before a handler
// gets the socket, and when the handler is gone the socket is watched again —
// at once, or after a back-off when handlers keep leaving it unread (rearm.ts).
import { plainAddress } from '../listen/address.js';
import type { WaitSocket } from '../listen/connection.js';
import { dropDatagram, peekSource } from '../sys/sockets.js';
import type { LogFields, Logger } from '../log/types.js';
import type { ServicePolicy } from '../policy/verdict.js';
import { planRearm } from './rearm.js';

export class WaitRounds {
  /** Rounds in a row whose handler made no progress. */
  private fruitless = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly service: string,
    private readonly logger: Logger,
    private readonly refuse: (address: string, fields: LogFields, reason: string) => void,
  ) {}

  /**
   * Whether a handler may have the socket now. What wakes a wait service is
   * all superd can judge: for udp, the source of the datagram waiting
   * (peeked, not read); a refused one is read and dropped, a permitted one
   * left for the handler. For tcp and unix only `rate` applies: past it, the
   * next handler starts when the rate allows.
   */
  admit(socket: WaitSocket, policy: ServicePolicy, rate: number | null): boolean {
    if (socket.proto === 'UDP') {
      const from = peekSource(socket.fd);
      if (from === null) return true;
      const address = plainAddress(from.address);
      const refusal = policy.admitRequest(address);
      if (refusal === null) return true;
      dropDatagram(socket.fd);
      this.refuse(address, { remote: address, remote_port: from.port }, refusal);
      socket.rearm();
      return false;
    }
    if (rate === null || policy.admitRequest('') === null) return true;
    this.later(socket, Math.ceil(60_000 / rate));
    return false;
  }

  /** The handler is gone (ranMs 0: it could not be started): watch the socket again, at once or after a back-off. */
  over(socket: WaitSocket, ranMs: number): void {
    if (this.stopped) return;
    const { fruitless, delayMs } = planRearm(this.fruitless, { ranMs, pending: socket.pending() });
    this.fruitless = fruitless;
    if (delayMs === 0) return socket.rearm();
    this.logger.log('warn', 'wait_backoff', {
      service: this.service,
      retry_in: delayMs / 1000,
      message: `${fruitless} handlers in a row ended within a second and left the socket unread: waiting before the next one`,
    });
    this.later(socket, delayMs);
  }

  /** The service is retired: its socket is not watched again. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private later(socket: WaitSocket, ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      socket.rearm();
    }, ms);
  }
}
