// Clients that connect again and again while a test changes superd under
// them (reloads, upgrades, hand-overs), and whether a lost handshake can be
// refused or only reset on this host.
import assert from 'node:assert/strict';
import { SysError } from '../../src/sys/errors.js';
import { dropNewHandshakes } from '../../src/sys/socket-handover.js';
import { bindInet } from '../../src/sys/sockets.js';
import { exchange } from './clients.js';

export interface ClientLoop {
  /** Exchanges that came back whole, with the same bytes. */
  served(): number;
  /** The others, each saying what came back and how it ended. */
  readonly failures: string[];
  /** Ends the loop once each client's exchange under way is over. */
  stop(): Promise<void>;
}

/** `clients` clients, each sending a line to `port` and reading it back, over and over; `onServed` after each one served. */
export function clientLoop(port: number, clients: number, opts: { timeoutMs: number; onServed?: () => void }): ClientLoop {
  let stopped = false;
  let served = 0;
  const failures: string[] = [];
  const client = async (id: number): Promise<void> => {
    for (let i = 0; !stopped; i++) {
      const payload = `client ${id} round ${i}\n`;
      const r = await exchange(port, payload, { timeoutMs: opts.timeoutMs }).catch((e: Error) => ({ data: Buffer.alloc(0), how: e.message }));
      if (r.data.toString() !== payload || r.how !== 'end') failures.push(`${payload.trim()}: got ${JSON.stringify(r.data.toString())} (${r.how})`);
      else {
        served += 1;
        opts.onServed?.();
      }
    }
  };
  const running = Array.from({ length: clients }, (_, i) => client(i));
  return {
    served: () => served,
    failures,
    stop: async () => {
      stopped = true;
      await Promise.all(running);
    },
  };
}

/**
 * Whether this kernel lets this user attach a socket filter: some refuse an
 * ordinary user even a classic one (kernel.unprivileged_bpf_disabled=2), and
 * superd's hand-over then only drains the old socket's backlog before it
 * closes: a handshake under way at that moment is reset (man/superd.8,
 * RELOAD). Nothing is refused either way: that is what SPEC §4 asks.
 */
export function socketFiltersAllowed(): boolean {
  const probe = bindInet({ type: 'stream', host: '127.0.0.1', port: 0, ipv6Only: false, backlog: 1 });
  if (probe instanceof SysError) assert.fail(`bind 127.0.0.1:0: ${probe.message}`);
  const refused = dropNewHandshakes(probe.fd);
  probe.close();
  return refused?.code !== 'EPERM';
}
