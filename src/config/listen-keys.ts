// The keys that say where a service listens (SPEC §2): protocol, and port
// and bind for tcp and udp, path and socket_mode for unix; each checked
// against the protocol it belongs to.
import type { Protocol } from './types.js';
import type { Reader } from './section-reader.js';
import type { Suggest } from './suggest.js';
import type { PortDb } from './systemdb.js';
import { parseBind, parseEnum, parsePort, parseSocketMode, parseSocketPath, type Transport } from './values.js';

const PROTOCOLS: readonly Protocol[] = ['tcp', 'tcp4', 'tcp6', 'udp', 'udp4', 'udp6', 'unix'];

export interface Listen {
  /** null when the protocol itself is bad. */
  protocol: Protocol | null;
  transport: Transport | 'unix' | null;
  port: number | null;
  bind: string | null;
  path: string | null;
  socketMode: number;
}

export function readListen(r: Reader, ports: PortDb, suggest: Suggest): Listen {
  const listen: Listen = { protocol: null, transport: null, port: null, bind: null, path: null, socketMode: 0o666 };
  const protocol = r.field<Protocol | null>('protocol', 'tcp', (v) => parseEnum('protocol', v, PROTOCOLS));
  // With an unknown protocol we cannot tell which keys belong, so we do not
  // pile guesses on top of that one error.
  if (protocol === null) return listen;
  listen.protocol = protocol;

  if (protocol === 'unix') {
    listen.transport = 'unix';
    for (const k of ['port', 'bind'] as const) {
      if (r.has(k)) r.report('bad_combination', k, `${k} is for tcp and udp services; a unix service listens on path`);
    }
    if (r.has('path')) listen.path = r.field<string | null>('path', null, parseSocketPath);
    else r.report('missing_key', null, 'protocol = unix needs path = /absolute/path/of/the.sock');
    listen.socketMode = r.field('socket_mode', listen.socketMode, parseSocketMode);
    return listen;
  }

  const transport: Transport = protocol.startsWith('udp') ? 'udp' : 'tcp';
  listen.transport = transport;
  if (r.has('path')) r.report('bad_combination', 'path', `path is for protocol = unix; a ${protocol} service listens on port`);
  if (r.has('socket_mode')) r.report('bad_combination', 'socket_mode', 'socket_mode is for protocol = unix only');
  if (r.has('port')) listen.port = r.field<number | null>('port', null, (v) => parsePort(v, transport, ports, suggest));
  else r.report('missing_key', null, `a ${protocol} service needs port = 1-65535 or a service name from /etc/services`);
  listen.bind = r.field<string | null>('bind', null, (v) => parseBind(v, protocol));
  return listen;
}
