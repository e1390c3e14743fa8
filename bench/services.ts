// Service kinds: how loadgen talks to each, and which need root. Each peer has a config
// generator per kind it can serve (peers.ts); a peer without one does not run that kind.

export type ServiceName = 'cat' | 'catnobody' | 'echo' | 'proxyv1' | 'proxyv2' | 'tls' | 'catsettings';

export interface ServiceKind {
  title: string;
  loadgenArgs: string[];
  /** skipped, with the reason printed, when the harness is not root */
  needsRoot?: boolean;
}

export const SERVICES: Record<ServiceName, ServiceKind> = {
  cat: { title: 'exec /bin/cat per connection', loadgenArgs: ['-s', '-E', '-V'] },
  catnobody: { title: 'exec /bin/cat per connection as nobody (uid/gid 65534)', loadgenArgs: ['-s', '-E', '-V'], needsRoot: true },
  echo: { title: 'builtin echo (no exec)', loadgenArgs: ['-s', '-E', '-V'] },
  // The PROXY row: `cat` behind a PROXY header the client writes (superd only: proxy_protocol).
  proxyv1: { title: 'exec /bin/cat per connection, PROXY header version 1 (proxy_protocol = v1)', loadgenArgs: ['-s', '-E', '-V', '-P', '1'] },
  proxyv2: { title: 'exec /bin/cat per connection, PROXY header version 2 (proxy_protocol = v2)', loadgenArgs: ['-s', '-E', '-V', '-P', '2'] },
  // The TLS rows (issue 28): `cat` behind TLS the daemon terminates (superd's tls_cert, stunnel's exec).
  tls: { title: 'exec /bin/cat per connection over TLS (a full handshake each, ECDSA P-256)', loadgenArgs: ['-S', '-s', '-E', '-V'] },
  // The settings row: `cat` with five process settings (superd only: SETTINGS in peers.ts).
  catsettings: { title: 'exec /bin/cat per connection with nice, umask, rlimit_nofile, rlimit_core, no_new_privileges', loadgenArgs: ['-s', '-E', '-V'] },
};
export const DEFAULT_SERVICES = 'cat catnobody echo proxyv1 proxyv2 tls catsettings';
// the held scenario's instances, in the instance table and latest-state.tsv
export const HELD_SERVICE = 'cat+hold';
export const DEFAULT_HELD_PEERS = 'superd';

export function isServiceName(s: string): s is ServiceName {
  return Object.hasOwn(SERVICES, s);
}
