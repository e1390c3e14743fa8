// The environment contract between superd and a handler (SPEC §3), in the
// tradition of tcpserver: nothing of superd's own environment leaks but PATH
// and what the service asks for.
import type { ServiceDefinition } from '../config/types.js';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** What is the same for every connection of a service: computed once per definition. */
export function baseEnvironment(def: ServiceDefinition, own: NodeJS.ProcessEnv): Map<string, string> {
  const env = new Map<string, string>();
  env.set('PATH', own.PATH ?? DEFAULT_PATH);
  for (const name of def.passEnv) {
    const value = own[name];
    if (value !== undefined) env.set(name, value);
  }
  for (const word of def.env) {
    const eq = word.indexOf('=');
    env.set(word.slice(0, eq), word.slice(eq + 1));
  }
  env.set('SUPERD_SERVICE', def.name);
  return env;
}

export interface Peer {
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
}

const TCP_NAMES = new Set(['PROTO', 'TCPREMOTEIP', 'TCPREMOTEPORT', 'TCPLOCALIP', 'TCPLOCALPORT', 'REMOTE_ADDR', 'REMOTE_PORT']);

/** The base as NAME=value strings, less what tcpEnvironment sets: computed once per definition. */
export function tcpBase(base: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const [name, value] of base) if (!TCP_NAMES.has(name)) out.push(`${name}=${value}`);
  return out;
}

/** The connection's variables win over the service's (SPEC §3). */
export function tcpEnvironment(base: readonly string[], peer: Peer): string[] {
  const remotePort = String(peer.remotePort);
  return [
    ...base,
    'PROTO=TCP',
    `TCPREMOTEIP=${peer.remoteAddress}`,
    `TCPREMOTEPORT=${remotePort}`,
    `TCPLOCALIP=${peer.localAddress}`,
    `TCPLOCALPORT=${peer.localPort}`,
    `REMOTE_ADDR=${peer.remoteAddress}`,
    `REMOTE_PORT=${remotePort}`,
  ];
}
