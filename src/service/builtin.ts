// A builtin served inside superd (builtins/), once its request is admitted.
// Over tcp a connection is served in-process, with one `accepted` and one
// `exited` line like a handler without a pid; over udp each request is
// answered, its `answered` lines bounded per source as refusals are
// (refused.ts): a forged flood of requests must not flood the log.
import type { Duplex } from 'node:stream';
import { builtin } from '../builtins/index.js';
import type { BuiltinName, ServiceDefinition } from '../config/types.js';
import type { Connection, Datagram } from '../listen/connection.js';
import { answeredLines, type BoundedLines } from './refused.js';
import { remoteFields } from './remote.js';
import type { RuntimeContext, ServiceStats } from './types.js';

export class BuiltinServing {
  /** Builtin tcp connections being served. */
  private readonly serving = new Set<Duplex>();
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
    for (const socket of this.serving) socket.destroy();
  }

  /** A tcp connection, served until the builtin is done, the client leaves or `timeout` ends it. */
  serve(conn: Connection, name: BuiltinName): void {
    const def = this.definition();
    const { ctx } = this;
    const socket = conn.stream();
    socket.on('error', () => undefined); // a reset ends it like a close
    this.serving.add(socket);
    this.stats.accepted += 1;
    ctx.fdPressure.ok();
    const startedAt = performance.now();
    const fields = { service: def.name, ...remoteFields(conn), builtin: name };
    ctx.logger.log('info', 'accepted', fields);
    const timer = def.timeout === null ? null : setTimeout(() => socket.destroy(), def.timeout * 1000);
    let over = false;
    builtin(name).serveStream(socket, () => {
      if (over) return;
      over = true;
      if (timer !== null) clearTimeout(timer);
      socket.destroy();
      this.serving.delete(socket);
      ctx.logger.log('info', 'exited', { ...fields, code: 0, signal: null, duration_ms: Math.round(performance.now() - startedAt) });
      this.ended(conn);
    });
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
