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

export function tcpEnvironment(base: ReadonlyMap<string, string>, peer: Peer): string[] {
  const env = new Map(base);
  env.set('PROTO', 'TCP');
  env.set('TCPREMOTEIP', peer.remoteAddress);
  env.set('TCPREMOTEPORT', String(peer.remotePort));
  env.set('TCPLOCALIP', peer.localAddress);
  env.set('TCPLOCALPORT', String(peer.localPort));
  env.set('REMOTE_ADDR', peer.remoteAddress);
  env.set('REMOTE_PORT', String(peer.remotePort));
  const out: string[] = [];
  for (const [name, value] of env) out.push(`${name}=${value}`);
  return out;
}
