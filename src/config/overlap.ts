// Whether two services' listen addresses overlap: the same socket, or
// sockets the kernel would not both bind. Used where addresses must be
// unique (claims.ts, a reload's plan, `superd convert`'s drafts) and
// where a rebind must close the old socket first (service/set.ts).
import { isIP } from 'node:net';
import type { ServiceDefinition } from './types.js';

interface Endpoint {
  transport: 'tcp' | 'udp' | 'unix';
  port: number;
  path: string;
  /** What it listens on; address `*` is any address of the family. */
  slots: { family: number; address: string }[];
}

function endpoint(def: ServiceDefinition): Endpoint {
  if (def.protocol === 'unix') return { transport: 'unix', port: 0, path: def.path ?? '', slots: [] };
  const transport = def.protocol.startsWith('udp') ? 'udp' : 'tcp';
  const dual = def.protocol === 'tcp' || def.protocol === 'udp';
  const families = dual ? [4, 6] : def.protocol.endsWith('4') ? [4] : [6];
  const port = def.port ?? 0;
  const any = (fs: number[]): Endpoint => ({ transport, port, path: '', slots: fs.map((family) => ({ family, address: '*' })) });
  if (def.bind === null) return any(families);
  if (def.bind === '0.0.0.0') return any([4]);
  // Like no bind at all: a dual-stack `::` socket also takes the IPv4 wildcard.
  if (canonicalIp(def.bind) === '::') return any(dual ? [4, 6] : [6]);
  return { transport, port, path: '', slots: [{ family: isIP(def.bind), address: canonicalIp(def.bind) }] };
}

/** One spelling per IPv6 address (`0:0::1` is `::1`); IPv4 literals that isIP accepts are canonical already. */
function canonicalIp(address: string): string {
  if (isIP(address) !== 6) return address;
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address.toLowerCase(); // zone ids (`fe80::1%eth0`) do not parse as URLs
  }
}

/** Services can only overlap within one bucket: the same transport and port, or the same socket file. */
export function conflictBucket(def: ServiceDefinition): string {
  if (def.protocol === 'unix') return `unix:${def.path ?? ''}`;
  return `${def.protocol.startsWith('udp') ? 'udp' : 'tcp'}:${def.port ?? 0}`;
}

/**
 * Whether two services would need the same socket, or sockets the kernel
 * would not both bind: a wildcard takes every address of its family on that
 * port, and `tcp` (dual stack) takes both families.
 */
export function listenConflict(a: ServiceDefinition, b: ServiceDefinition): boolean {
  const ea = endpoint(a);
  const eb = endpoint(b);
  if (ea.transport !== eb.transport) return false;
  if (ea.transport === 'unix') return ea.path === eb.path;
  if (ea.port !== eb.port) return false;
  return ea.slots.some((sa) =>
    eb.slots.some(
      (sb) => sa.family === sb.family && (sa.address === '*' || sb.address === '*' || sa.address === sb.address),
    ),
  );
}
