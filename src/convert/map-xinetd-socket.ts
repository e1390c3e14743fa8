// An xinetd service's socket -> protocol, port and bind: the family xinetd
// listened on, and whether it would have started the service on that port
// at all (/etc/services, UNLISTED).

import { isIP } from 'node:net';
import { mappedAs, noEquivalent, type MapContext } from './map-common.js';
import { cannotServe, setKey, type Draft } from './types.js';
import type { XAttr, XBlock } from './xinetd.js';
import { first, isYes, type Get, type Missing } from './xinetd-attrs.js';
import { setting, type Resolved } from './xinetd-resolve.js';

export interface SocketContext {
  types: Set<string>;
  flags: Set<string>;
  fromDefaults: (name: string) => string[];
  ctx: MapContext;
  missing: Missing;
}

/** protocol, port and bind; the transport and wait, which the rest depends on. */
export function mapSocket(d: Draft, b: XBlock, r: Resolved, s: SocketContext): { transport: 'tcp' | 'udp'; wait: boolean | null } {
  const get: Get = (name) => r.single.get(name);
  const protocolAttr = get('protocol');
  const protocol = protocolAttr === undefined ? null : first(protocolAttr).toLowerCase();
  // xinetd takes either from the other: tcp is stream, udp is dgram.
  const socketType = get('socket_type');
  const st = socketType !== undefined ? first(socketType).toLowerCase() : protocol === 'tcp' ? 'stream' : protocol === 'udp' ? 'dgram' : null;
  if (st === null) cannotServe(d, s.missing('socket_type', `Service ${b.name} missing attribute socket_type`));
  const transport = st === 'stream' ? 'tcp' : st === 'dgram' ? 'udp' : null;
  if (transport === null && st !== null) cannotServe(d, `socket_type = ${st}: superd serves stream (tcp) and dgram (udp) sockets only`);
  if (protocol !== null && transport !== null && protocol !== transport) {
    cannotServe(d, protocol === 'tcp' || protocol === 'udp'
      ? `protocol = ${protocol} does not go with socket_type = ${st ?? '?'}`
      : `protocol = ${protocol}: superd serves tcp and udp only`);
  }
  const waitAttr = get('wait');
  if (waitAttr === undefined) cannotServe(d, s.missing('wait', `Service ${b.name} missing attribute wait`));
  const wait = waitAttr === undefined ? null : isYes(waitAttr);

  // IPv4 unless flags has IPv6 (then on both, or IPv6 only with v6only); a bind address decides alone.
  const bindAttr = get('bind');
  const bind = bindAttr === undefined ? null : first(bindAttr);
  const family = bind !== null && isIP(bind) !== 0 ? String(isIP(bind)) : s.flags.has('IPV6') ? (isYes(get('v6only')) ? '6' : '') : '4';
  const t = transport ?? 'tcp';
  // Without IPv4, IPv6 or an address, xinetd 2.3.15.3 (Debian 12's) listens on [::], both families; other builds on IPv4 only.
  const unsaid = family === '4' && bind === null && !s.flags.has('IPV4');
  setKey(d, 'protocol', `${t}${family}`, ...(unsaid
    ? [mappedAs('xinetd', 'no flags = IPv4 or IPv6, no bind',
      `xinetd 2.3.15.3 (Debian 12's) listened on IPv6 too, older builds on IPv4 only: written ${t}4, the narrower; protocol = ${t} serves IPv6 clients as well`)]
    : []));

  const portAttr = get('port');
  const rpc = s.types.has('RPC');
  const unlisted = s.types.has('UNLISTED');
  if (portAttr !== undefined) {
    const p = Number(first(portAttr));
    if (p === 0) cannotServe(d, 'port = 0: xinetd listened on a port the kernel chose; superd listens on the port it is given');
    else setKey(d, 'port', String(p));
  } else if (unlisted && !rpc) {
    cannotServe(d, s.missing('port', `Unlisted service: ${b.name} must have a port entry`));
  } else if (!rpc) {
    // xinetd looks the service name up in /etc/services; superd's port takes that name.
    setKey(d, 'port', b.name);
  }
  // A type xinetd refused: the service is disabled for that, whatever the type would have asked of /etc/services.
  const typeRefused = r.refused.some((x) => x.attr.name === 'type');
  if (!rpc && !unlisted && !typeRefused && !s.types.has('TCPMUX') && !s.types.has('TCPMUXPLUS')) {
    mapListed(d, b, s.ctx, protocolAttr === undefined ? t : first(protocolAttr), portAttr);
  }
  if (bind !== null && bindAttr !== undefined) {
    if (isIP(bind) !== 0) setKey(d, 'bind', bind, ...s.fromDefaults('bind'));
    else {
      d.notes.push(noEquivalent('xinetd', setting(bindAttr), 'bind takes an address, not a host name'));
      d.disabled.push(`bind = ${bind} is a host name: without a bind the service would listen on every address`);
    }
  }
  return { transport: t, wait };
}

/**
 * xinetd starts a service whose type has no UNLISTED only when this host's
 * /etc/services names it (for its protocol), and only on that port.
 */
function mapListed(d: Draft, b: XBlock, ctx: MapContext, protocol: string, portAttr: XAttr | undefined): void {
  const listed = ctx.host.ports.get(`${b.name}/${protocol}`);
  const unlisted = 'xinetd looks a service up there by its name unless its type has UNLISTED';
  if (listed === undefined && portAttr === undefined) {
    cannotServe(d, `xinetd did not start it: Port not specified and can't find service: ${b.name} with getservbyname (not in /etc/services for ${protocol}; ${unlisted})`);
    return;
  }
  if (listed === undefined) {
    d.disabled.push(`xinetd did not start it: service/protocol combination not in /etc/services: ${b.name}/${protocol} (${unlisted})`);
    return;
  }
  const port = portAttr === undefined ? listed : Number(first(portAttr));
  if (port !== listed) {
    d.disabled.push(`xinetd did not start it: Service ${b.name} expects port ${listed}, not ${port} (the port /etc/services gives ${b.name}; with type = UNLISTED a service may take another)`);
  }
}
