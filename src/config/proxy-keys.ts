// The PROXY protocol keys (SPEC §2): proxy_protocol, proxy_from (required
// with it: otherwise any client could claim any address) and proxy_timeout.
// A header comes first on a tcp connection that superd accepts itself, so
// they fit a tcp nowait service (a program or a builtin) and nothing else.
import type { Handler, Protocol, ProxySettings, ProxyVersion } from './types.js';
import type { Reader } from './section-reader.js';
import { parseAddressList, parseEnum, parseSeconds } from './values.js';

const VERSIONS: readonly ProxyVersion[] = ['v1', 'v2', 'any'];
/** SPEC §2. */
export const DEFAULT_PROXY_TIMEOUT = 5;

export function readProxy(r: Reader, protocol: Protocol | null, wait: boolean, handler: Handler | null): ProxySettings | null {
  if (!r.has('proxy_protocol')) {
    for (const key of ['proxy_from', 'proxy_timeout'] as const) {
      if (r.has(key)) r.report('bad_combination', key, `${key} has no effect without proxy_protocol = v1, v2 or any: set that too, or remove ${key}`);
    }
    return null;
  }
  const misfit = whyNot(protocol, wait, handler);
  if (misfit !== null) r.report('bad_combination', 'proxy_protocol', misfit);
  if (!r.has('proxy_from')) {
    r.report('missing_key', 'proxy_protocol',
      "proxy_protocol needs proxy_from = the balancer's addresses or CIDR blocks (like 10.0.0.5 or 10.0.0.0/24): a header from anyone else would let a client claim any address");
  }
  const version = r.field<ProxyVersion | null>('proxy_protocol', null, (v) => parseEnum('proxy_protocol', v, VERSIONS));
  const from = r.field<string[] | null>('proxy_from', null, (v) => parseAddressList('proxy_from', v));
  const timeout = r.field('proxy_timeout', DEFAULT_PROXY_TIMEOUT, (v) => parseSeconds('proxy_timeout', v));
  return version === null || from === null || misfit !== null ? null : { version, from, timeout };
}

function whyNot(protocol: Protocol | null, wait: boolean, handler: Handler | null): string | null {
  if (protocol === null) return null; // already an error of its own
  if (protocol === 'unix') return 'proxy_protocol is for tcp services: a unix socket has no balancer in front and no addresses to replace';
  if (!protocol.startsWith('tcp')) return `proxy_protocol is for tcp services: a ${protocol} datagram carries no PROXY header (use protocol = tcp)`;
  if (wait && handler?.kind === 'server') {
    return 'proxy_protocol needs wait = no: superd reads the header before the handler starts, and a wait service\'s handler accepts its connections itself';
  }
  return null;
}
