// One inetd.conf entry -> one draft section per listen address (usually
// one). inetd's protocols: `tcp`/`udp` are both IPv4 and IPv6 on Debian's
// openbsd-inetd, as superd's are; `tcp4`, `tcp6` and `udp4`, `udp6` are one
// family; FreeBSD's `tcp46` is both. argv[0] is the first word after the
// program, as inetd passes it.

import { isIP } from 'node:net';
import path from 'node:path';
import { builtinFor, BUILTINS, mapLimits, mappedAs, mapProgram, noEquivalent, sanitizeName, type MapContext } from './map-common.js';
import type { InetdEntry } from './inetd.js';
import { cannotServe, newDraft, setKey, type Draft } from './types.js';

const PROTOCOL = /^(tcp|udp)(4|6|46)?$/;

export function mapInetdEntry(e: InetdEntry, ctx: MapContext): Draft[] {
  return e.hosts.map((host, i) => mapForHost(e, host, i === 0 ? e.comments : [], ctx));
}

function sectionName(e: InetdEntry): string {
  if (e.protocol === 'unix') return sanitizeName(path.basename(e.service).replace(/\.[^.]*$/, ''));
  return sanitizeName(e.service);
}

function mapForHost(e: InetdEntry, host: string, carried: string[], _ctx: MapContext): Draft {
  const d = newDraft(e.file, e.line, e.off ? `#<off># ${e.text}` : e.text, sectionName(e), carried);
  d.altSuffix = e.protocol.replace(/^rpc\//, '');
  const proto = PROTOCOL.exec(e.protocol);
  const transport = proto !== null ? (proto[1] as 'tcp' | 'udp') : e.protocol === 'unix' ? 'unix' : null;

  // The socket.
  if (e.protocol.startsWith('rpc/')) cannotServe(d, `${e.protocol}: superd does not register RPC services with the portmapper (rpcbind)`);
  else if (transport === null) cannotServe(d, `protocol ${e.protocol}: superd serves tcp, udp and unix sockets`);
  if (e.socketType !== 'stream' && e.socketType !== 'dgram') cannotServe(d, `socket type ${e.socketType}: superd serves stream and dgram sockets only`);
  else if ((transport === 'tcp' && e.socketType !== 'stream') || (transport === 'udp' && e.socketType !== 'dgram')) {
    cannotServe(d, `socket type ${e.socketType} does not go with protocol ${e.protocol}`);
  } else if (transport === 'unix' && e.socketType !== 'stream') cannotServe(d, 'superd serves unix stream sockets only');
  const family = proto?.[2] === '46' ? '' : (proto?.[2] ?? '');
  setKey(d, 'protocol', transport === null ? e.protocol : `${transport}${family}`);
  if (transport === 'unix') setKey(d, 'path', e.service);
  else if (/^tcpmux\//.test(e.service)) cannotServe(d, `${e.service}: superd does not serve the tcpmux port (RFC 1078) that such services are reached through`);
  else if (!e.protocol.startsWith('rpc/')) setKey(d, 'port', e.service);
  if (transport !== 'unix' && host !== '*') {
    if (isIP(host) !== 0) setKey(d, 'bind', host);
    else {
      d.notes.push(noEquivalent('inetd', `${host}:${e.service}`, 'bind takes an address, not a host name'));
      d.disabled.push(`its address ${host} is a host name: without a bind the service would listen on every address`);
    }
  }
  if (e.protocolOptions.length > 0) {
    d.notes.push(noEquivalent('inetd', `${e.protocol},${e.protocolOptions.join(',')}`, 'superd leaves socket buffer sizes at the system defaults'));
  }

  // The handler.
  const internal = e.server === 'internal';
  if (internal) {
    const builtin = builtinFor(e.service);
    if (builtin === null) cannotServe(d, `inetd's internal service '${e.service}' has no superd builtin (superd has ${BUILTINS.join(', ')})`);
    else setKey(d, 'builtin', builtin);
    d.notes.push(noEquivalent('inetd', `user ${[e.user, e.group].filter((x) => x !== null).join(':')}`, 'builtins run inside superd, no program is started'));
  } else {
    mapProgram(d, 'inetd', e.server, e.argv[0] ?? null, e.argv.slice(1));
    if (transport === 'udp' && !e.wait) {
      setKey(d, 'wait', 'yes', mappedAs('inetd', 'nowait', 'superd starts a udp program only as wait = yes: a nowait datagram handler would be started for every datagram'));
      d.disabled.push('the program was a nowait udp server: check that it works handed the socket (wait = yes), then enable it');
    } else setKey(d, 'wait', e.wait ? 'yes' : 'no');
    setKey(d, 'user', e.user);
    if (e.group !== null) setKey(d, 'group', e.group);
    if (e.loginClass !== null) d.notes.push(noEquivalent('inetd', `login class ${e.loginClass}`, 'superd sets no login class (limits from login.conf)'));
  }

  if (e.off) d.disabled.push('switched off in inetd.conf (#<off>#, as update-inetd --disable writes it)');
  const positive = (n: number | null): number | null => (n === null || n === 0 ? null : n);
  const rateNote = e.perMinute === null ? null
    : mappedAs('inetd', `${e.wait ? 'wait' : 'nowait'}.${e.perMinute}`,
      'past this many a minute inetd stopped the service for ten minutes; superd never stops it, it refuses only the connections past the rate');
  mapLimits(d, 'inetd', {
    transport: transport ?? 'tcp',
    waitProgram: !internal && e.wait,
    maxChildren: positive(e.maxChild),
    maxPerSource: positive(e.perIpChild),
    rate: positive(e.perMinute),
    ratePerSource: positive(e.perIpPerMinute),
  }, { maxPerSource: 'max-child-per-ip', ratePerSource: 'max-connections-per-ip-per-minute' }, { rate: rateNote === null ? [] : [rateNote] });
  return d;
}
