// What a handler is told of its TLS session (SPEC §3: SSL_PROTOCOL,
// SSL_CIPHER, SSL_TLS_SNI_SERVERNAME, SSL_PEER_CERT_SUBJECT,
// SSL_PEER_CERT_HASH), read off the session once its handshake is done.
import { createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';

export interface TlsFacts {
  /** `TLSv1.3`, `TLSv1.2`. */
  protocol: string;
  /** OpenSSL's name of the cipher suite, as s6-tlsserver and stunnel give it. */
  cipher: string;
  /** The name the client asked for (SNI), or null when it sent none. */
  serverName: string | null;
  /** The client's certificate (tls_client_ca), or null when it sent none. */
  peer: { subject: string; hash: string } | null;
}

export function factsOf(socket: TLSSocket): TlsFacts {
  const name = socket.servername;
  const peer = socket.getPeerX509Certificate();
  return {
    protocol: socket.getProtocol() ?? '',
    cipher: socket.getCipher()?.name ?? '',
    serverName: typeof name === 'string' && name !== '' ? name : null,
    peer: peer === undefined ? null : { subject: onelineSubject(peer.subject), hash: createHash('sha256').update(peer.raw).digest('hex') },
  };
}

/** Node's subject is one `KEY=value` a line; OpenSSL's one-line form, which s6-tlsserver and stunnel give, is `/KEY=value/KEY=value`. */
export function onelineSubject(subject: string): string {
  return subject.split('\n').filter((part) => part !== '').map((part) => `/${part}`).join('');
}
