// src/internals/: the check at start proves each bet on Node's internals on
// this Node, and fails each one that a stand-in makes misbehave (an injected
// probe), always without a descriptor left behind; the paths it chooses, the
// `started` field that names them, and what superd run does with them; and
// each fallback path (the 'connection' event, a net.Socket on a pipe) serves
// as the internal path does. Self-contained: no fixed ports, every wait bounded.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, readdirSync, readlinkSync, writeSync } from 'node:fs';
import { connect, createServer, Socket, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import { checkInternals, choosePaths, describePaths, parseBets, type InternalsReport } from '../src/internals/check.js';
import { adoptPaths } from '../src/internals/adopt.js';
import { hookAccept, type AcceptedHandle } from '../src/internals/accept.js';
import { socketFd } from '../src/internals/descriptor.js';
import { currentPaths, INTERNAL_PATHS, usePaths, type Bet, type BetOutcome } from '../src/internals/paths.js';
import { readPipe, readPipeWith } from '../src/internals/pipe.js';
import { fdLink, isNonBlocking } from '../src/internals/procfd.js';
import { onAccepted, tcpAddresses } from '../src/listen/accepted.js';
import type { Connection } from '../src/listen/connection.js';
import type { LogFields, Logger, LogLevel } from '../src/log/types.js';
import { pipe } from './helpers/pipes.js';
import { within } from './helpers/wait.js';

/** What this process has open: descriptor -> what it is open on. */
function openFds(): Map<string, string> {
  const out = new Map<string, string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      out.set(fd, readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // The directory's own descriptor, gone once read.
    }
  }
  return out;
}

/** A check, with what it left open asserted to be nothing. */
async function checkLeavingNothing(o: Parameters<typeof checkInternals>[0] = {}): Promise<InternalsReport> {
  const before = openFds();
  const report = await within(checkInternals(o), 10_000, 'the check');
  assert.deepEqual(openFds(), before, `the check left descriptors behind (or closed others): ${JSON.stringify(report.outcomes)}`);
  return report;
}

const outcome = (r: InternalsReport, bet: Bet): BetOutcome => r.outcomes[bet];

/** The deadline for checks a stand-in makes hang, which always reach it: short, but long enough for the steps before the hang on a loaded host. */
const HANG_MS = 2000;

// libuv opens one descriptor (/dev/null, for its EMFILE trick) the first time
// the process makes a stream handle, and keeps it: made here, before any
// count is taken.
before(async () => {
  await checkInternals();
});

describe('the check on this Node', () => {
  test('every bet holds, each proven by what it did, and nothing is left open', async () => {
    const r = await checkLeavingNothing();
    for (const bet of ['accept', 'stream', 'fd', 'pipe'] as const) assert.equal(outcome(r, bet).ok, true, `${bet}: ${outcome(r, bet).detail}`);
    assert.deepEqual(r.paths, INTERNAL_PATHS);
    assert.equal(describePaths(r), 'accept=handle stream=handle fd=_handle pipe=pipe_wrap');
    assert.match(outcome(r, 'accept').detail, /setBlocking switches its O_NONBLOCK/);
    assert.match(outcome(r, 'fd').detail, /setBlocking switches its O_NONBLOCK/);
    assert.match(outcome(r, 'stream').detail, /reads, writes, ends and closes/);
    assert.match(outcome(r, 'pipe').detail, /gave "x\\n", then its end/);
    assert.ok(Number.isFinite(r.ms) && r.ms > 0);
  });

  test('--avoid-internals: each bet avoided takes its public path, fd none', async () => {
    const r = await checkLeavingNothing({ avoid: new Set<Bet>(['accept', 'stream', 'fd', 'pipe']) });
    for (const bet of ['accept', 'stream', 'fd', 'pipe'] as const) assert.deepEqual(outcome(r, bet), { ok: false, why: 'avoided', detail: 'avoided by --avoid-internals' });
    assert.equal(describePaths(r), 'accept=connection(avoided) stream=connection(avoided) fd=none(avoided) pipe=socket(avoided)');
  });

  test('a check that throws is no proof: the public paths, the descriptor untested', async () => {
    const boom = (): never => {
      throw new Error('boom');
    };
    const r = await checkLeavingNothing({ probes: { hookAccept: boom, pipeWrap: boom } });
    assert.equal(outcome(r, 'accept').why, 'untested');
    assert.match(outcome(r, 'accept').detail, /boom/);
    assert.equal(outcome(r, 'pipe').why, 'misbehaved');
    assert.equal(describePaths(r), 'accept=connection(untested) stream=connection(untested) fd=_handle(untested) pipe=socket(misbehaved)');
  });
});

describe('accept: a hook that does not behave', () => {
  test('no onconnection to replace: missing, and the connection event', async () => {
    const r = await checkLeavingNothing({ probes: { hookAccept: () => false } });
    assert.equal(outcome(r, 'accept').why, 'missing');
    assert.equal(outcome(r, 'stream').why, 'untested');
    assert.equal(outcome(r, 'fd').ok, true, 'the descriptor is checked on its own');
    assert.equal(describePaths(r), 'accept=connection(missing) stream=connection(untested) fd=_handle pipe=pipe_wrap');
  });

  test('a replaced onconnection that Node never calls: misbehaved, seen at once', async () => {
    const r = await checkLeavingNothing({ probes: { hookAccept: () => true } });
    assert.equal(outcome(r, 'accept').why, 'misbehaved');
    assert.match(outcome(r, 'accept').detail, /Node's own net\.Socket/);
    assert.equal(r.paths.accept, 'connection');
  });

  test("a handle whose fd is another socket's: misbehaved", async () => {
    const other = await connectedPair();
    try {
      const otherFd = socketFd(other.client) ?? assert.fail('no fd');
      const hook: typeof hookAccept = (server, onHandle, onFailed) => hookAccept(server, (h) => onHandle(withFd(h, otherFd)), onFailed);
      const r = await checkLeavingNothing({ probes: { hookAccept: hook } });
      assert.equal(outcome(r, 'accept').why, 'misbehaved');
      assert.match(outcome(r, 'accept').detail, /did not switch O_NONBLOCK/);
      assert.equal(r.paths.accept, 'connection');
    } finally {
      await other.close();
    }
  });
});

describe('stream: a net.Socket on the handle that does not behave', () => {
  test('one that cannot be built: the accept path goes with it', async () => {
    const r = await checkLeavingNothing({
      probes: {
        streamFromHandle: () => {
          throw new Error('no handle option');
        },
      },
    });
    assert.equal(outcome(r, 'accept').ok, true, 'the hook itself held, and its handle was closed by close()');
    assert.equal(outcome(r, 'stream').why, 'misbehaved');
    assert.match(outcome(r, 'stream').detail, /no handle option/);
    assert.equal(describePaths(r), 'accept=connection(stream) stream=connection(misbehaved) fd=_handle pipe=pipe_wrap');
  });

  test('one that reads nothing of the connection: misbehaved', async () => {
    const r = await checkLeavingNothing({ probes: { streamFromHandle: () => new Socket() }, timeoutMs: HANG_MS });
    assert.equal(outcome(r, 'stream').why, 'misbehaved');
    assert.match(outcome(r, 'stream').detail, /did not read what the client wrote/);
    assert.equal(r.paths.stream, 'connection');
  });
});

describe('fd: a descriptor that is not to be had', () => {
  test('none shown: missing, and superd would not start', async () => {
    const r = await checkLeavingNothing({ probes: { socketFd: () => null } });
    assert.equal(outcome(r, 'fd').why, 'missing');
    assert.equal(r.paths.fd, 'none');
    assert.equal(describePaths(r), 'accept=handle stream=handle fd=none(missing) pipe=pipe_wrap');
  });

  test("another socket's: misbehaved", async () => {
    const other = await connectedPair();
    try {
      const otherFd = socketFd(other.client) ?? assert.fail('no fd');
      const r = await checkLeavingNothing({ probes: { socketFd: () => otherFd } });
      assert.equal(outcome(r, 'fd').why, 'misbehaved');
      assert.equal(r.paths.fd, 'none');
    } finally {
      await other.close();
    }
  });

  test('a setBlocking that does nothing: misbehaved', async () => {
    const r = await checkLeavingNothing({ probes: { setSocketBlocking: () => 0 } });
    assert.equal(outcome(r, 'fd').why, 'misbehaved');
    assert.match(outcome(r, 'fd').detail, /did not switch O_NONBLOCK/);
  });
});

describe('pipe: libuv pipe handles that do not behave', () => {
  test('bindings not there: missing, and a net.Socket', async () => {
    const r = await checkLeavingNothing({ probes: { pipeWrap: () => null } });
    assert.equal(outcome(r, 'pipe').why, 'missing');
    assert.equal(describePaths(r), 'accept=handle stream=handle fd=_handle pipe=socket(missing)');
  });

  test('other bytes than were written: misbehaved', async () => {
    const wrong: typeof readPipeWith = (wrap, fd, _onChunk, onEnd) => readPipeWith(wrap, fd, () => undefined, onEnd);
    const r = await checkLeavingNothing({ probes: { readPipeWith: wrong } });
    assert.equal(outcome(r, 'pipe').why, 'misbehaved');
    assert.match(outcome(r, 'pipe').detail, /gave "", not "x\\n"/);
  });

  test('no end of file: misbehaved, and the descriptor closed all the same', async () => {
    const endless: typeof readPipeWith = (wrap, fd, onChunk) => readPipeWith(wrap, fd, onChunk, () => undefined);
    const r = await checkLeavingNothing({ probes: { readPipeWith: endless }, timeoutMs: HANG_MS });
    assert.equal(outcome(r, 'pipe').why, 'misbehaved');
    assert.match(outcome(r, 'pipe').detail, /did not end/);
  });
});

describe('the paths chosen', () => {
  const ok: BetOutcome = { ok: true, why: null, detail: '' };
  const bad = (why: BetOutcome['why']): BetOutcome => ({ ok: false, why, detail: '' });

  test('the bare handle only with a stream on it; the descriptor kept only when it could not be tried', () => {
    assert.deepEqual(choosePaths({ accept: ok, stream: ok, fd: ok, pipe: ok }), INTERNAL_PATHS);
    assert.deepEqual(choosePaths({ accept: ok, stream: bad('misbehaved'), fd: ok, pipe: ok }).accept, 'connection');
    assert.equal(choosePaths({ accept: ok, stream: ok, fd: bad('untested'), pipe: ok }).fd, '_handle');
    for (const why of ['missing', 'misbehaved', 'avoided'] as const) assert.equal(choosePaths({ accept: ok, stream: ok, fd: bad(why), pipe: ok }).fd, 'none');
  });

  test('--avoid-internals is a list of bets, or all', () => {
    assert.deepEqual(parseBets('accept, pipe'), new Set(['accept', 'pipe']));
    assert.deepEqual(parseBets('all'), new Set(['accept', 'stream', 'fd', 'pipe']));
    assert.deepEqual(parseBets(''), new Set());
    const wrong = parseBets('accept,sockets');
    assert.ok(wrong instanceof Error);
    assert.match(wrong.message, /unknown sockets/);
  });

  describe('adopted by superd run', () => {
    after(() => usePaths(INTERNAL_PATHS));

    test('the paths become the process\'s; each bet that fell back is logged, unless avoided', () => {
      const logged: { level: LogLevel; event: string; fields: LogFields }[] = [];
      const logger = { log: (level: LogLevel, event: string, fields: LogFields = {}) => logged.push({ level, event, fields }) } as unknown as Logger;
      const outcomes = { accept: bad('avoided'), stream: bad('avoided'), fd: ok, pipe: { ok: false, why: 'misbehaved', detail: 'it read "y"' } as BetOutcome };
      const report: InternalsReport = { paths: choosePaths(outcomes), outcomes, ms: 1 };
      assert.equal(adoptPaths(report, logger), null);
      assert.deepEqual(currentPaths(), { accept: 'connection', stream: 'connection', fd: '_handle', pipe: 'socket' });
      assert.deepEqual(logged, [{ level: 'warn', event: 'node_internals', fields: { bet: 'pipe', why: 'misbehaved', path: 'socket', message: 'it read "y"; superd uses a net.Socket on the descriptor' } }]);
    });

    test('no descriptor: why superd must not start', () => {
      const logger = { log: () => undefined } as unknown as Logger;
      const outcomes = { accept: ok, stream: ok, fd: { ok: false, why: 'missing', detail: 'no _handle.fd' } as BetOutcome, pipe: ok };
      const refused = adoptPaths({ paths: choosePaths(outcomes), outcomes, ms: 1 }, logger);
      assert.equal(refused?.code, 'node_internals');
      assert.match(refused?.message ?? '', /gives no descriptor of a connected socket \(accept=handle stream=handle fd=none\(missing\) pipe=pipe_wrap: no _handle\.fd\)/);
    });
  });
});

describe('each path serves', () => {
  for (const path of ['handle', 'connection'] as const) {
    test(`accept=${path}: the client's addresses, a blocking descriptor for a program, a stream for a builtin`, async () => {
      const server = createServer({ pauseOnConnect: true });
      await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
      const port = (server.address() as { port: number }).port;
      const conns: Connection[] = [];
      let got: () => void = () => undefined;
      onAccepted(server, 'TCP', (h) => tcpAddresses(h), null, (c) => (conns.push(c), got()), () => undefined, path);
      const clients: Socket[] = [];
      try {
        const accept = async (): Promise<{ conn: Connection; client: Socket }> => {
          const arrived = new Promise<void>((resolve) => (got = resolve));
          const client = connect({ host: '127.0.0.1', port });
          clients.push(client);
          await within(Promise.all([arrived, new Promise((r) => client.once('connect', r))]), 5000, 'the connection');
          return { conn: conns.at(-1) ?? assert.fail('no connection'), client };
        };
        // For a program: the descriptor, made blocking, whose bytes reach the client.
        const a = await accept();
        assert.equal(a.conn.remoteAddress, '127.0.0.1');
        assert.equal(a.conn.remotePort, a.client.localPort);
        assert.equal(a.conn.localPort, port);
        const fd = a.conn.descriptor();
        assert.match(fdLink(fd) ?? '', /^socket:/);
        assert.equal(isNonBlocking(fd), false, 'a handler gets it blocking');
        const reply = new Promise<string>((resolve) => a.client.once('data', (d: Buffer) => resolve(d.toString())));
        writeSync(fd, 'to the client');
        assert.equal(await within(reply, 5000, 'the bytes'), 'to the client');
        const link = fdLink(fd);
        a.conn.close();
        assert.notEqual(fdLink(fd), link, "close() closes superd's copy");
        // For a builtin: a stream that echoes.
        const b = await accept();
        const stream: Duplex = b.conn.stream();
        stream.on('data', (d: Buffer) => stream.end(d));
        const echoed = new Promise<string>((resolve) => b.client.once('data', (d: Buffer) => resolve(d.toString())));
        b.client.write('echo me');
        assert.equal(await within(echoed, 5000, 'the echo'), 'echo me');
      } finally {
        for (const c of clients) c.destroy();
        server.close();
      }
    });
  }

  for (const path of ['pipe_wrap', 'socket'] as const) {
    test(`pipe=${path}: what was written, then the end, paused and resumed; close() closes the descriptor`, async () => {
      const p = pipe();
      writeSync(p.write, 'line one\nline two\n');
      const link = fdLink(p.read);
      let read = '';
      let ended: () => void = () => undefined;
      const end = new Promise<void>((resolve) => (ended = resolve));
      const reader = readPipe(p.read, (c) => (read += c.toString()), ended, path) ?? assert.fail('not read');
      reader.pause();
      reader.resume();
      writeSync(p.write, 'line three\n');
      closeSync(p.write);
      await within(end, 5000, 'the end of the pipe');
      assert.equal(read, 'line one\nline two\nline three\n');
      reader.close();
      assert.notEqual(fdLink(p.read), link);
    });
  }

});

/** A connected pair on 127.0.0.1, for a descriptor that is a socket but not the one under test. */
async function connectedPair(): Promise<{ client: Socket; close: () => Promise<void> }> {
  const server: Server = createServer();
  const accepted: Socket[] = [];
  server.on('connection', (s) => accepted.push(s));
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  const client = connect({ host: '127.0.0.1', port: (server.address() as { port: number }).port });
  await within(new Promise((r) => client.once('connect', r)), 5000, 'the pair');
  return {
    client,
    close: async () => {
      client.destroy();
      for (const s of accepted) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** The real handle, but claiming another descriptor. */
function withFd(h: AcceptedHandle, fd: number): AcceptedHandle {
  const real = h as unknown as { getpeername(o: object): number; getsockname(o: object): number; setBlocking(b: boolean): number; close(cb?: () => void): void };
  const fake = {
    fd,
    getpeername: (o: object) => real.getpeername(o),
    getsockname: (o: object) => real.getsockname(o),
    setBlocking: (b: boolean) => real.setBlocking(b),
    close: (cb?: () => void) => (cb === undefined ? real.close() : real.close(cb)),
  };
  return fake as unknown as AcceptedHandle;
}
