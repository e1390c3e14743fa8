// A builtin served inside superd (builtins/), once its request is admitted.
// Over tcp a connection is served in-process, with one `accepted` and one
// `exited` line like a handler without a pid; over udp each request is
// answered, its `answered` lines bounded per source as refusals are
// (refused.ts): a forged flood of requests must not flood the log. An
// upgrade passes the tcp connections on, and the new image goes on serving
// them (resume).
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { builtin } from '../builtins/index.js';
import type { BuiltinName, ServiceDefinition } from '../config/types.js';
import { socketFd } from '../internals/descriptor.js';
import type { Connection, Datagram } from '../listen/connection.js';
import { passedBuiltin, type PassedBuiltin } from '../upgrade/state.js';
import { answeredLines, type BoundedLines } from './refused.js';
import { remoteFields } from './remote.js';
import type { RuntimeContext, ServiceStats } from './types.js';

/** A tcp connection being served, as an upgrade passes it on. */
interface Served {
  conn: Connection;
  name: BuiltinName;
  startedAt: number;
  /** When its `timeout` ends it (performance.now()); null: none. */
  endsAt: number | null;
}

export class BuiltinServing {
  /** Builtin tcp connections being served. */
  private readonly serving = new Map<Duplex, Served>();
  private readonly answers: BoundedLines;

  constructor(
    /** The service's definition as it is now: a reload may update it while connections are served. */
    private readonly definition: () => ServiceDefinition,
    private readonly ctx: RuntimeContext,
    private readonly stats: ServiceStats,
    /** A tcp connection is over: its slot is free. */
    private readonly ended: (conn: Connection) => void,
  ) {
    this.answers = answeredLines(definition().name, ctx.logger);
  }

  /** Connections being served. */
  get count(): number {
    return this.serving.size;
  }

  /** Shutdown: every connection is closed. */
  closeAll(): void {
    for (const socket of this.serving.keys()) socket.destroy();
  }

  /** A tcp connection, served until the builtin is done, the client leaves or `timeout` ends it. */
  serve(conn: Connection, name: BuiltinName): void {
    const def = this.definition();
    this.stats.accepted += 1;
    this.ctx.fdPressure.ok();
    this.ctx.logger.log('info', 'accepted', { service: def.name, ...remoteFields(conn), builtin: name });
    this.run(conn, name, performance.now(), def.timeout === null ? null : def.timeout * 1000, false);
  }

  /** A connection the old image was serving (an upgrade): it goes on, counted and logged once, as if it had never stopped. */
  resume(conn: Connection, passed: PassedBuiltin): void {
    this.run(conn, passed.builtin, performance.now() - passed.ranMs, passed.timeoutInMs, true);
  }

  /** What an upgrade passes on: each connection's socket as it is. A TLS session is OpenSSL's, inside this image: not passed. */
  handedOver(service: string): PassedBuiltin[] {
    const now = performance.now();
    return [...this.serving].flatMap(([socket, s]) => {
      const fd = socket instanceof Socket && !socket.destroyed && s.conn.tls === undefined ? socketFd(socket) : null;
      if (fd === null || fd < 0) return [];
      const timeoutInMs = s.endsAt === null ? null : Math.max(0, Math.round(s.endsAt - now));
      return [passedBuiltin(service, s.conn, fd, { builtin: s.name, ranMs: Math.round(now - s.startedAt), timeoutInMs })];
    });
  }

  private run(conn: Connection, name: BuiltinName, startedAt: number, timeoutMs: number | null, resumed: boolean): void {
    const { ctx } = this;
    const socket = conn.stream();
    socket.on('error', () => undefined); // a reset ends it like a close
    this.serving.set(socket, { conn, name, startedAt, endsAt: timeoutMs === null ? null : performance.now() + timeoutMs });
    const fields = { service: this.definition().name, ...remoteFields(conn), builtin: name };
    const timer = timeoutMs === null ? null : setTimeout(() => socket.destroy(), timeoutMs);
    let over = false;
    const done = (): void => {
      if (over) return;
      over = true;
      if (timer !== null) clearTimeout(timer);
      socket.destroy();
      this.serving.delete(socket);
      ctx.logger.log('info', 'exited', { ...fields, code: 0, signal: null, duration_ms: Math.round(performance.now() - startedAt) });
      this.ended(conn);
    };
    const b = builtin(name);
    if (resumed && b.resumeStream !== undefined) b.resumeStream(socket, done);
    else b.serveStream(socket, done);
  }

  /** A udp request, admitted: its answer (if the builtin has one) and its `answered` line. */
  answer(d: Datagram, name: BuiltinName): void {
    const answer = builtin(name).answerDatagram(d.data, new Date());
    this.stats.accepted += 1;
    if (answer !== null) d.reply(answer);
    const remote = { remote: d.remoteAddress, remote_port: d.remotePort };
    this.answers.line(name, d.remoteAddress, { ...remote, builtin: name, bytes: answer?.length ?? 0 });
  }
}
