// The environment contract between superd and a handler (SPEC §3), in the
// tradition of tcpserver: nothing of superd's own environment leaks but PATH
// and what the service asks for.
import type { ServiceDefinition } from '../config/types.js';
import type { TlsFacts } from '../tls/facts.js';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** What is the same for every connection of a service: computed once per definition. */
export function baseEnvironment(def: ServiceDefinition, own: NodeJS.ProcessEnv): Map<string, string> {
  const env = new Map<string, string>();
  env.set('PATH', own.PATH ?? DEFAULT_PATH);
  for (const name of def.passEnv) {
    // Own properties only: `toString`, `constructor` or `__proto__` would
    // otherwise bring Object.prototype's functions along as text.
    const value = Object.hasOwn(own, name) ? own[name] : undefined;
    if (typeof value === 'string') env.set(name, value);
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
  /** With proxy_protocol: the balancer that sent the header (remote* is the client it named). */
  balancer?: { address: string; port: number };
  /** With tls_cert: the TLS session superd terminates (tls/facts.ts). */
  tls?: TlsFacts;
}

/** What superd sets per connection or socket: a service's own `env` cannot fake them. */
const CONNECTION_NAME = /^(PROTO|(TCP|UDP|UNIX|PROXY)(LOCAL|REMOTE)[A-Z]*|REMOTE_ADDR|REMOTE_PORT|SSL_(PROTOCOL|CIPHER|TLS_SNI_SERVERNAME|PEER_CERT_SUBJECT|PEER_CERT_HASH))$/;

/** The base as NAME=value strings, less what the per-connection builders set: computed once per definition. */
export function tcpBase(base: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const [name, value] of base) if (!CONNECTION_NAME.test(name)) out.push(`${name}=${value}`);
  return out;
}

/** The connection's variables win over the service's (SPEC §3). */
export function tcpEnvironment(base: readonly string[], peer: Peer): string[] {
  const remotePort = String(peer.remotePort);
  const env = [
    ...base,
    'PROTO=TCP',
    `TCPREMOTEIP=${peer.remoteAddress}`,
    `TCPREMOTEPORT=${remotePort}`,
    `TCPLOCALIP=${peer.localAddress}`,
    `TCPLOCALPORT=${peer.localPort}`,
    `REMOTE_ADDR=${peer.remoteAddress}`,
    `REMOTE_PORT=${remotePort}`,
  ];
  if (peer.balancer !== undefined) env.push(`PROXYREMOTEIP=${peer.balancer.address}`, `PROXYREMOTEPORT=${peer.balancer.port}`);
  if (peer.tls !== undefined) env.push(...tlsEnvironment(peer.tls));
  return env;
}

/** As s6-tlsserver sets them (SPEC §3); the server name and the peer's only when there is one. */
function tlsEnvironment(tls: TlsFacts): string[] {
  const env = [`SSL_PROTOCOL=${tls.protocol}`, `SSL_CIPHER=${tls.cipher}`];
  if (tls.serverName !== null) env.push(`SSL_TLS_SNI_SERVERNAME=${tls.serverName}`);
  if (tls.peer !== null) env.push(`SSL_PEER_CERT_SUBJECT=${tls.peer.subject}`, `SSL_PEER_CERT_HASH=${tls.peer.hash}`);
  return env;
}

export interface LocalEnd {
  proto: 'TCP' | 'UDP' | 'UNIX';
  /** The bound IP ('' when bound to every address), or the socket file for unix. */
  localAddress: string;
  localPort: number;
}

/**
 * A unix connection, or a wait socket (which has no one remote end): PROTO and
 * the local end in the ucspi names (`UDPLOCALPORT`, `UNIXLOCALPATH`), no remote
 * variables.
 */
export function localEnvironment(base: readonly string[], end: LocalEnd): string[] {
  const env = [...base, `PROTO=${end.proto}`];
  if (end.proto === 'UNIX') {
    env.push(`UNIXLOCALPATH=${end.localAddress}`);
    return env;
  }
  if (end.localAddress !== '') env.push(`${end.proto}LOCALIP=${end.localAddress}`);
  env.push(`${end.proto}LOCALPORT=${end.localPort}`);
  return env;
}
