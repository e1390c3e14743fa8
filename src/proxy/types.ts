// The values of a PROXY header's parse (header.ts), shared by both versions' parsers.

import type { ProxyVersion } from '../config/types.js';

export type { ProxyVersion };

export interface Endpoint {
  /** Plain IPv4 (an IPv4-mapped IPv6 address is written as IPv4, as superd writes a dual-stack client), or canonical IPv6. */
  readonly address: string;
  readonly port: number;
}

export type HeaderParse =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'error'; readonly message: string }
  /** Serve the connection with its own addresses; the header is `length` bytes. */
  | { readonly kind: 'local'; readonly length: number }
  | {
      readonly kind: 'proxied';
      readonly length: number;
      /** The family the header declares. */
      readonly family: 'ipv4' | 'ipv6';
      readonly source: Endpoint;
      readonly destination: Endpoint;
    };

export function error(message: string): HeaderParse {
  return { kind: 'error', message };
}

/** The first bytes of what a peer sent, quoted and escaped for a log line. */
export function shown(data: Buffer, max = 24): string {
  let out = '';
  for (const b of data.subarray(0, max)) {
    out += b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return `"${out}${data.length > max ? '…' : ''}"`;
}
