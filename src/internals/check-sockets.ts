// The checks of the socket bets (accept.ts, stream.ts, descriptor.ts) on one
// throwaway tcp connection on 127.0.0.1, made and read with the public API:
// - fd: a connected net.Socket's descriptor is the one its handle's
//   setBlocking switches (the kernel's flags show it);
// - accept: the replaced onconnection is called with a handle whose
//   descriptor is likewise its own, whose getpeername names the client, and
//   a byte written to which reaches the client (another local process that
//   connects meanwhile is closed, and does not count);
// - stream: a net.Socket built on that handle reads what the client writes,
//   writes what the client reads, and ends; closing it (or the bare handle)
//   closes the descriptor.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { writeSync } from 'node:fs';
import { closeHandle, handleFd, peerName, setHandleBlocking, type AcceptedHandle, type SocketName, type hookAccept } from './accept.js';
import type { setSocketBlocking, socketFd } from './descriptor.js';
import type { streamFromHandle } from './stream.js';
import type { Bet, BetOutcome } from './paths.js';
import { fdLink, stillOpen } from './procfd.js';
import { AVOIDED, Deadline, LATE, Made, Received, failed, passed, provesDescriptor } from './trial.js';
import { errorMessage } from '../errors.js';

export interface SocketProbes {
  hookAccept: typeof hookAccept;
  streamFromHandle: typeof streamFromHandle;
  socketFd: typeof socketFd;
  setSocketBlocking: typeof setSocketBlocking;
}

export interface SocketOutcomes {
  accept: BetOutcome;
  stream: BetOutcome;
  fd: BetOutcome;
}

const untested = (detail: string): SocketOutcomes => {
  const u = failed('untested', detail);
  return { accept: u, stream: u, fd: u };
};

function listen(server: Server): Promise<number | Error> {
  return new Promise((resolve) => {
    server.once('error', resolve);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : new Error('no port'));
    });
  });
}

/**
 * What the server is handed: accepted handles (the hook's) or net.Sockets
 * (the 'connection' event's). Another local process may connect to the
 * throwaway port meanwhile: the check's own connection is the one whose peer
 * is the client's port, and the others are closed at the end.
 */
class Arrivals {
  private readonly handles: AcceptedHandle[] = [];
  private readonly sockets: Socket[] = [];
  private failures = 0;
  private changed: () => void = () => undefined;

  constructor(private readonly made: Made) {}

  handle(h: AcceptedHandle): void {
    this.handles.push(h);
    this.made.add(() => closeHandle(h));
    this.changed();
  }

  socket(s: Socket): void {
    this.sockets.push(s);
    this.made.add(() => s.destroy());
    this.changed();
  }

  failed(): void {
    this.failures++;
    this.changed();
  }

  /** The handle whose getpeername names `port`; or what came instead: Node's own net.Socket, or a failed accept. */
  ours(port: number): Promise<AcceptedHandle | 'socket' | 'failed'> {
    return new Promise((resolve) => {
      const check = (): void => {
        const h = this.handles.find((x) => {
          const peer: SocketName = {};
          return peerName(x, peer) && peer.port === port;
        });
        const found = h ?? (this.sockets.some((s) => s.remotePort === port) ? 'socket' : this.failures > 0 ? 'failed' : null);
        if (found === null) return;
        this.changed = () => undefined;
        resolve(found);
      };
      this.changed = check;
      check();
    });
  }
}

export async function checkSockets(p: SocketProbes, avoid: ReadonlySet<Bet>, deadline: Deadline): Promise<SocketOutcomes> {
  const made = new Made();
  try {
    return await trial(p, avoid, deadline, made);
  } catch (err) {
    return untested(`the check threw: ${errorMessage(err)}`);
  } finally {
    made.undoAll();
  }
}

async function trial(p: SocketProbes, avoid: ReadonlySet<Bet>, deadline: Deadline, made: Made): Promise<SocketOutcomes> {
  const server = createServer({ pauseOnConnect: true });
  made.add(() => server.close());
  const port = await deadline.wait(listen(server));
  server.on('error', () => undefined);
  if (port === LATE || port instanceof Error) return untested(`cannot listen on 127.0.0.1: ${port === LATE ? 'timed out' : port.message}`);

  const arrivals = new Arrivals(made);
  const hooked = avoid.has('accept') ? false : p.hookAccept(server, (h) => arrivals.handle(h), () => arrivals.failed());
  server.on('connection', (s: Socket) => arrivals.socket(s));

  const client = connect({ host: '127.0.0.1', port });
  made.add(() => client.destroy());
  const atClient = new Received(client);
  const connected = await deadline.wait(new Promise<Error | null>((resolve) => client.once('connect', () => resolve(null)).once('error', resolve)));
  if (connected !== null) return untested(`cannot connect to 127.0.0.1: ${connected === LATE ? 'timed out' : connected.message}`);

  const fd = avoid.has('fd') ? AVOIDED : checkFd(p, client);
  const came = hooked ? await deadline.wait(arrivals.ours(client.localPort ?? 0)) : null;
  const h = came !== null && typeof came === 'object' ? came : null;
  let accept: BetOutcome;
  if (avoid.has('accept')) accept = AVOIDED;
  else if (!hooked) accept = failed('missing', 'a listening net.Server has no _handle.onconnection to replace');
  else if (h === null) {
    const seen = came === 'socket' ? "Node's own net.Socket" : came === 'failed' ? 'a failed accept' : 'no handle whose getpeername names the client';
    accept = failed('misbehaved', `the replaced onconnection was not called with the connection: the server saw ${seen}`);
  } else accept = await checkAccepted(h, atClient, deadline);

  if (h === null || !accept.ok) return { accept, stream: avoid.has('stream') ? AVOIDED : failed('untested', 'no accepted handle to build a net.Socket on'), fd };
  if (avoid.has('stream')) return { accept: await closes(h, accept, deadline), stream: AVOIDED, fd };
  let built = false;
  const stream = await checkStream(p, h, client, atClient, deadline, made, () => (built = true));
  // A net.Socket closes the handle it was built on with the handle's own close(): destroying it proved that.
  return { accept: built ? accept : await closes(h, accept, deadline), stream, fd };
}

/** The accepted handle's close() closes its descriptor (a program's connection is closed so, once the program has it). */
async function closes(h: AcceptedHandle, accept: BetOutcome, deadline: Deadline): Promise<BetOutcome> {
  const fd = handleFd(h);
  const link = fdLink(fd);
  const closed = new Promise<void>((resolve) => closeHandle(h, resolve));
  if ((await deadline.wait(closed)) === LATE) return failed('misbehaved', 'closing the accepted handle did not finish');
  return stillOpen(fd, link) ? failed('misbehaved', `closing the accepted handle left its descriptor ${fd} open`) : accept;
}

function checkFd(p: SocketProbes, client: Socket): BetOutcome {
  const fd = p.socketFd(client);
  if (fd === null) return failed('missing', 'a connected net.Socket shows no descriptor (_handle.fd)');
  return provesDescriptor(fd, (b) => p.setSocketBlocking(client, b), 'a net.Socket');
}

async function checkAccepted(h: AcceptedHandle, atClient: Received, deadline: Deadline): Promise<BetOutcome> {
  const fd = handleFd(h);
  if (!Number.isInteger(fd) || fd < 0) return failed('misbehaved', `the accepted handle's fd is ${String(fd)}`);
  const proof = provesDescriptor(fd, (b) => setHandleBlocking(h, b), 'the accepted handle');
  if (!proof.ok) return proof;
  try {
    writeSync(fd, 'A');
  } catch (err) {
    return failed('misbehaved', `cannot write to the accepted handle's descriptor ${fd}: ${errorMessage(err)}`);
  }
  const reached = await deadline.wait(atClient.until('A'));
  if (reached !== true) return failed('misbehaved', `a byte written to the accepted handle's descriptor ${fd} did not reach the client (it read ${JSON.stringify(atClient.text)})`);
  return passed(`the hook was called with the connection; ${proof.detail}`);
}

async function checkStream(p: SocketProbes, h: AcceptedHandle, client: Socket, atClient: Received, deadline: Deadline, made: Made, built: () => void): Promise<BetOutcome> {
  const fd = handleFd(h);
  const link = fdLink(fd);
  let stream: Socket;
  try {
    stream = p.streamFromHandle(h);
  } catch (err) {
    return failed('misbehaved', `new net.Socket({ handle }) threw: ${errorMessage(err)}`);
  }
  built();
  made.add(() => stream.destroy());
  stream.on('error', () => undefined);
  const atServer = new Received(stream);
  client.write('S');
  if ((await deadline.wait(atServer.until('S'))) !== true) return failed('misbehaved', `a net.Socket on the accepted handle did not read what the client wrote (it read ${JSON.stringify(atServer.text)})`);
  stream.end('W');
  if ((await deadline.wait(atClient.until('AW'))) !== true) return failed('misbehaved', `what a net.Socket on the accepted handle wrote did not reach the client (it read ${JSON.stringify(atClient.text)})`);
  if ((await deadline.wait(atClient.end())) !== true) return failed('misbehaved', 'the end of a net.Socket on the accepted handle did not reach the client');
  const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
  stream.destroy();
  if ((await deadline.wait(closed)) === LATE) return failed('misbehaved', 'destroying a net.Socket on the accepted handle did not finish');
  if (stillOpen(fd, link)) return failed('misbehaved', `destroying a net.Socket on the accepted handle left its descriptor ${fd} open`);
  return passed('a net.Socket on the accepted handle reads, writes, ends and closes');
}
