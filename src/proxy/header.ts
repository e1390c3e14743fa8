// A PROXY protocol header (HAProxy's spec, versions 1 and 2) read off the
// first bytes of a connection: pure, no socket. The caller peeks what has
// arrived, asks parseHeader, and either waits for more (`incomplete`),
// refuses the connection (`error`), or removes exactly `length` bytes and
// serves the client: the one the header names (`proxied`), or the
// connection's own peer (`local`: a health check, `UNKNOWN`, a family
// superd does not take addresses from).
//
// Nothing is guessed: the service says which versions it takes, and bytes
// that do not start a header of one of them are an error at once, not after
// a timeout. Each version's own parser is in v1.ts and v2.ts.
import { error, shown, type HeaderParse, type ProxyVersion } from './types.js';
import { parseV1, V1_MAX } from './v1.js';
import { parseV2, V2_MAX, V2_SIGNATURE } from './v2.js';

export type { Endpoint, HeaderParse, ProxyVersion } from './types.js';

export { V1_MAX, V2_MAX };

/** The most bytes a header of `version` can have: more than that, and it is an error. */
export function maxHeaderLength(version: ProxyVersion): number {
  return version === 'v1' ? V1_MAX : V2_MAX;
}

const P = 0x50;
const CR = 0x0d;

/**
 * The header at the start of `data`, for a service taking `version`. Any
 * prefix of a valid header is `incomplete`; any prefix that no valid header
 * starts with is an `error`, however short.
 */
export function parseHeader(data: Buffer, version: ProxyVersion): HeaderParse {
  if (data.length === 0) return { kind: 'incomplete' };
  const first = data[0];
  if (first === P) {
    if (version !== 'v2') return parseV1(data);
    return looksLike(data, Buffer.from('PROXY '))
      ? error('a version 1 header (PROXY …), but proxy_protocol = v2 takes version 2 only: set v1 or any, or send-proxy-v2 on the balancer')
      : notAHeader(data, version);
  }
  if (first === CR) {
    if (version !== 'v1') return parseV2(data);
    return looksLike(data, V2_SIGNATURE)
      ? error('a version 2 header, but proxy_protocol = v1 takes version 1 only: set v2 or any, or send-proxy (not -v2) on the balancer')
      : notAHeader(data, version);
  }
  return notAHeader(data, version);
}

function looksLike(data: Buffer, start: Buffer): boolean {
  const n = Math.min(data.length, start.length);
  return data.subarray(0, n).equals(start.subarray(0, n));
}

function notAHeader(data: Buffer, version: ProxyVersion): HeaderParse {
  const expected = version === 'v1' ? "'PROXY '" : version === 'v2' ? 'the version 2 signature' : "'PROXY ' or the version 2 signature";
  return error(`no PROXY header: expected ${expected}, got ${shown(data)}`);
}
