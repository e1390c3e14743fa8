// What the udp builtins' reflection rules (policy/datagram.ts) need to know
// of superd and of the host, kept once for the whole process:
//
// - the ports on which superd serves a udp builtin: each udp listener adds its
//   port once bound and takes it back when closed, so the set follows every
//   reload (a service added, removed, disabled, or moved to another port);
// - the broadcast addresses of the host's IPv4 subnets, and whether
//   route_localnet lets 127.0.0.0/8 in from an interface other than loopback.
//   Both are read before a udp builtin binds and again, when datagrams come,
//   once they are FACTS_TTL_MS old: never per datagram, never blocking.
import { readdir, readFile } from 'node:fs/promises';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import type { DatagramHost, PortSet } from '../policy/datagram.js';
import { ipv4Value } from '../policy/ipaddr.js';

/** How long the host's addresses and route_localnet are taken as read. */
export const FACTS_TTL_MS = 30_000;

const CONF_DIR = '/proc/sys/net/ipv4/conf';

/** A port counted once per listener on it: echo on 127.0.0.1:7007 and on [::1]:7007 are two. */
class PortCounts implements PortSet {
  private readonly counts = new Map<number, number>();

  add(port: number): void {
    this.counts.set(port, (this.counts.get(port) ?? 0) + 1);
  }

  remove(port: number): void {
    const n = this.counts.get(port) ?? 0;
    if (n <= 1) this.counts.delete(port);
    else this.counts.set(port, n - 1);
  }

  has(port: number): boolean {
    return this.counts.has(port);
  }
}

class HostFacts implements DatagramHost {
  readonly builtinPorts = new PortCounts();
  broadcasts: ReadonlySet<number> = new Set();
  // Not known until read: 127.0.0.0/8 is then answered on loopback sockets only.
  localnetFromOutside = true;
  private readAt = -Infinity;
  private reading: Promise<void> | null = null;

  /** Reads the facts again if they are stale; resolves once they are current. */
  refresh(): Promise<void> {
    if (this.reading !== null) return this.reading;
    if (performance.now() - this.readAt < FACTS_TTL_MS) return Promise.resolve();
    this.reading = this.read().finally(() => {
      this.reading = null;
    });
    return this.reading;
  }

  /** For each datagram: starts a read if the facts are stale, and costs nothing else. */
  keepCurrent(): void {
    if (this.reading === null && performance.now() - this.readAt >= FACTS_TTL_MS) void this.refresh();
  }

  private async read(): Promise<void> {
    const localnet = await localnetFromOutside();
    try {
      this.broadcasts = subnetBroadcasts(networkInterfaces());
    } catch {
      // The interfaces could not be listed: the last set stays.
    }
    this.localnetFromOutside = localnet;
    this.readAt = performance.now();
  }
}

/** superd's, shared by every udp listener. */
export const hostFacts = new HostFacts();

/**
 * The broadcast and all-zeros host addresses (the 4.2BSD broadcast) of every
 * IPv4 subnet in `interfaces` (os.networkInterfaces(): those that are up). A
 * /31 or /32 has neither. Computed from the netmask: an interface given
 * another broadcast address by hand is not seen.
 */
export function subnetBroadcasts(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): Set<number> {
  const found = new Set<number>();
  for (const addresses of Object.values(interfaces)) {
    for (const a of addresses ?? []) {
      if (a.family !== 'IPv4') continue;
      const address = ipv4Value(a.address);
      const mask = ipv4Value(a.netmask);
      if (address < 0 || mask < 0) continue;
      const hostBits = ~mask >>> 0;
      if (hostBits <= 1) continue;
      const network = (address & mask) >>> 0;
      found.add(network);
      found.add((network | hostBits) >>> 0);
    }
  }
  return found;
}

/**
 * Whether route_localnet is on for any interface but loopback (`all` counts
 * for every one): then a 127.0.0.0/8 source can come in from outside. When
 * it cannot be read, the answer is yes.
 */
async function localnetFromOutside(): Promise<boolean> {
  let names: string[];
  try {
    names = await readdir(CONF_DIR);
  } catch {
    return true;
  }
  // `default` only seeds interfaces yet to come, which get their own entry.
  const read = names
    .filter((name) => name !== 'lo' && name !== 'default')
    .map(async (name) => {
      try {
        return (await readFile(`${CONF_DIR}/${name}/route_localnet`, 'utf8')).trim() !== '0';
      } catch (err) {
        // An interface gone since the listing has no say.
        return (err as NodeJS.ErrnoException).code !== 'ENOENT';
      }
    });
  return (await Promise.all(read)).some((on) => on);
}
