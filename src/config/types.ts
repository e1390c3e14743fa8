// The validated form of one [section] of a service file. Everything the daemon
// needs to serve a service is here, already parsed: later stages never look at
// raw strings from the file again.

export type Protocol = 'tcp' | 'tcp4' | 'tcp6' | 'udp' | 'udp4' | 'udp6' | 'unix';
export type StderrMode = 'log' | 'socket' | 'null';
export type BuiltinName = 'echo' | 'discard' | 'chargen' | 'daytime' | 'time';
/** Which PROXY protocol headers a service takes (`proxy_protocol`). */
export type ProxyVersion = 'v1' | 'v2' | 'any';

/** `proxy_protocol`, `proxy_from` and `proxy_timeout` (SPEC §2): tcp nowait only. */
export interface ProxySettings {
  version: ProxyVersion;
  /** Addresses and CIDR blocks as written: the peers whose header is believed. */
  from: string[];
  /** Seconds the whole header may take to arrive. */
  timeout: number;
}

/** The oldest TLS version a service accepts (`tls_min_version`). */
export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

/** `tls_cert`, `tls_key`, `tls_client_ca`, `tls_min_version`, `tls_timeout` (SPEC §2): tcp nowait only. */
export interface TlsSettings {
  /** PEM file paths as written (absolute). */
  cert: string;
  key: string;
  /** Client certificates are required and verified against it; null: none asked for. */
  clientCa: string | null;
  minVersion: TlsVersion;
  /** Seconds the whole handshake may take. */
  timeout: number;
  /** What the files held at this load (config/tls-files.ts); null until they are read. */
  loaded: LoadedTls | null;
}

/**
 * The files of a TLS service as one load read them. `digest` (SHA-256 of
 * their contents) makes a renewed certificate a changed definition, which a
 * reload updates and never rebinds; `context` is what a handshake uses: an
 * object with no enumerable state of its own, so comparing definitions
 * (config/plan.ts) compares digests, and nothing prints a key.
 */
export interface LoadedTls {
  digest: string;
  context: { readonly secureContext: import('node:tls').SecureContext };
}

/** The resource limits a service may set (`rlimit_NAME`), in the order they are applied. */
export const RLIMIT_NAMES = ['as', 'cpu', 'core', 'data', 'fsize', 'nofile', 'nproc', 'stack'] as const;
export type RlimitName = (typeof RLIMIT_NAMES)[number];
export interface RlimitSetting { name: RlimitName; value: number | 'unlimited' }

/** nice, umask, rlimit_*, groups, no_new_privileges (SPEC §2): applied before the handler's first instruction (spawn/settings.ts). */
export interface ProcessSettings {
  /** −20..19; null = superd's own. */
  nice: number | null;
  /** null = superd's (022). */
  umask: number | null;
  /** Soft and hard alike: bytes (seconds for cpu, a count for nofile and nproc), or 'unlimited'. In RLIMIT_NAMES order. */
  rlimits: RlimitSetting[];
  /** The user's supplementary groups (initgroups), not none. */
  groups: boolean;
  noNewPrivileges: boolean;
}

/** Where a definition came from: the file and the line of its `[section]`. */
export interface Origin {
  file: string;
  line: number;
}

export type Handler =
  | { kind: 'server'; program: string; argv: string[] }
  | { kind: 'builtin'; name: BuiltinName };

/** Resolved when the file is read, so an unknown user is a config error. */
export interface Credentials {
  uid: number;
  gid: number;
  /** For logs and `check`: `name(uid)` or just the uid. */
  label: string;
}

export interface ServiceDefinition {
  name: string;
  origin: Origin;
  protocol: Protocol;
  /** tcp/udp only. */
  port: number | null;
  /** tcp/udp only; null = all addresses. */
  bind: string | null;
  /** unix only. */
  path: string | null;
  socketMode: number;
  wait: boolean;
  handler: Handler;
  /** null = superd's own user. */
  credentials: Credentials | null;
  maxChildren: number;
  queue: number;
  maxPerSource: number | null;
  rate: number | null;
  ratePerSource: number | null;
  /** Addresses and CIDR blocks as written; null = everyone. */
  onlyFrom: string[] | null;
  noAccess: string[];
  /** `env` key, in order, as NAME=value strings. */
  env: string[];
  passEnv: string[];
  /** Seconds; null = none. */
  timeout: number | null;
  stderr: StderrMode;
  disabled: boolean;
  /** null = no PROXY header: the connection's peer is the client. */
  proxy: ProxySettings | null;
  /** Absent: no TLS. */
  tls?: TlsSettings;
  /** Absent when the service sets none of them. */
  settings?: ProcessSettings;
}

/**
 * The part of a definition that decides which socket it needs: the address,
 * and the kind of listener (a wait socket handed to a program, a udp socket
 * superd answers itself, a stream socket it accepts on), and a unix socket's
 * mode. A change in any of them opens a new socket.
 */
export function listenKey(def: ServiceDefinition): string {
  const kind = def.handler.kind === 'builtin' ? 'builtin' : def.wait ? 'wait' : 'nowait';
  return def.protocol === 'unix'
    ? `unix:${def.path ?? ''}:${kind}:${def.socketMode.toString(8)}`
    : `${def.protocol}:${def.bind ?? '*'}:${def.port ?? 0}:${kind}`;
}

/** `127.0.0.1:7000/tcp`, `*:7000/tcp`, `[::1]:7000/tcp6`, `/run/x.sock/unix`. */
export function describeAddress(def: ServiceDefinition): string {
  if (def.protocol === 'unix') return `${def.path ?? ''}/unix`;
  const host = def.bind === null ? '*' : def.bind.includes(':') ? `[${def.bind}]` : def.bind;
  return `${host}:${def.port ?? 0}/${def.protocol}`;
}
