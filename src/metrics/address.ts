// What `--metrics ADDRESS:PORT` names (SPEC §1): where the Prometheus
// endpoint listens. Loopback unless the address says otherwise: a bare port
// is 127.0.0.1, since the figures (service names, addresses' counts) are
// not for every host that can reach superd. Only IP literals: a host name
// would be resolved once at start, to one of its addresses, silently.
import { isIP } from 'node:net';
import { fail, ok, type Result } from '../errors.js';

export interface MetricsAddress {
  /** An IPv4 or IPv6 literal, without brackets. */
  host: string;
  /** 0: any free port, the one taken is logged (`listening`). */
  port: number;
}

const HINT = 'give ADDRESS:PORT (127.0.0.1:9101, [::1]:9101, 0.0.0.0:9101) or a port alone (9101, on 127.0.0.1)';

function parsePort(text: string, whole: string): Result<number, string> {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 0 && port <= 65535)) return fail(`--metrics: '${whole}' has no valid port (0-65535): ${HINT}`);
  return ok(port);
}

/** `--metrics`'s value, or what is wrong with it (a message naming the option). */
export function parseMetricsAddress(value: string): Result<MetricsAddress, string> {
  const text = value.trim();
  if (/^\d+$/.test(text)) {
    const port = parsePort(text, value);
    return port.ok ? ok({ host: '127.0.0.1', port: port.value }) : port;
  }
  const m = /^\[([^\]]*)\]:([^:]*)$/.exec(text) ?? /^([^:[\]]*):([^:]*)$/.exec(text);
  if (m === null) {
    const bare = isIP(text) === 6 ? ': an IPv6 address goes in brackets, [ADDRESS]:PORT' : '';
    return fail(`--metrics: '${value}' is not ADDRESS:PORT${bare}; ${HINT}`);
  }
  const host = m[1] ?? '';
  if (text.startsWith('[') && isIP(host) !== 6) return fail(`--metrics: '${value}': brackets are for an IPv6 address; ${HINT}`);
  if (isIP(host) === 0) return fail(`--metrics: '${host}' in '${value}' is not an IP address (host names are not resolved); ${HINT}`);
  const port = parsePort(m[2] ?? '', value);
  return port.ok ? ok({ host, port: port.value }) : port;
}

/** `127.0.0.1:9101`, `[::1]:9101`: as the operator would write it. */
export function formatMetricsAddress(a: MetricsAddress): string {
  return isIP(a.host) === 6 ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
