// The `--metrics` endpoint: node:http on the address given, GET (and HEAD)
// /metrics only. It shares superd's event loop with the services, so what a
// scraper (or anyone who can reach the port) may make it do is bounded: a
// few connections at once, small headers, short timeouts, and a scrape's
// work is reading counters and one status snapshot (figures.ts), never a
// wait for anything.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SuperdError } from '../errors.js';
import { formatMetricsAddress, type MetricsAddress } from './address.js';
import type { Figures, ScrapeSources } from './figures.js';

/** Connections at once: Prometheus uses one per scrape; more are closed as they come. */
export const MAX_CONNECTIONS = 8;
/** A request's headers, and the whole request, must come within this. */
export const REQUEST_TIMEOUT_MS = 5000;
/** An idle kept-alive connection is closed after this (Prometheus scrapes every 15 s or more: it reconnects). */
export const IDLE_TIMEOUT_MS = 5000;
/** Request headers: a scrape's are a few hundred bytes. */
const MAX_HEADER_BYTES = 8192;

export interface MetricsServer {
  /** Where it listens (the port taken, for port 0). */
  address: MetricsAddress;
  close(): Promise<void>;
}

function reply(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

function handle(req: IncomingMessage, res: ServerResponse, figures: Figures, sources: ScrapeSources): void {
  const path = (req.url ?? '').split('?')[0];
  if (path !== '/metrics') return reply(res, 404, 'not found: superd serves /metrics only\n');
  if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, 'method not allowed: GET /metrics\n', { allow: 'GET, HEAD' });
  figures.render(sources).then(
    (text) => reply(res, 200, text, { 'content-type': figures.contentType }),
    (err: unknown) => reply(res, 500, `cannot render the metrics: ${err instanceof Error ? err.message : String(err)}\n`),
  );
}

/** Listens on address; resolves once it does, or with why it cannot (a port in use, an address not on this host). */
export function serveMetrics(address: MetricsAddress, figures: Figures, sources: ScrapeSources): Promise<MetricsServer | SuperdError> {
  const server: Server = createServer(
    { requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: REQUEST_TIMEOUT_MS, keepAliveTimeout: IDLE_TIMEOUT_MS, maxHeaderSize: MAX_HEADER_BYTES },
    (req, res) => handle(req, res, figures, sources),
  );
  server.maxConnections = MAX_CONNECTIONS;
  server.maxHeadersCount = 64;
  // A connection that sends nothing at all is closed too, not only a slow request.
  server.setTimeout(IDLE_TIMEOUT_MS, (socket) => socket.destroy());
  // A client's reset is its own business.
  server.on('clientError', (_err, socket) => socket.destroy());
  return new Promise((resolve) => {
    const failed = (err: NodeJS.ErrnoException): void => {
      const why = err.code === 'EADDRINUSE' ? 'the port is in use (another program, or another superd): choose another port' : err.code === 'EADDRNOTAVAIL' ? 'no interface of this host has that address' : err.code === 'EACCES' ? 'a port below 1024 needs root or CAP_NET_BIND_SERVICE' : err.message;
      resolve({ code: 'metrics_bind', message: `--metrics ${formatMetricsAddress(address)}: cannot listen: ${err.code ?? 'error'}: ${why}` });
    };
    server.once('error', failed);
    server.listen({ host: address.host, port: address.port }, () => {
      server.off('error', failed);
      // A failed accept (out of descriptors) is the kernel's to retry: never an exception that ends superd.
      server.on('error', () => undefined);
      const bound = server.address() as AddressInfo;
      resolve({
        address: { host: address.host, port: bound.port },
        close: () =>
          new Promise((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
