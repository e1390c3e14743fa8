// A service's socket: bound now, or tried again every BIND_RETRY_SECONDS
// until it binds or the service is retired; closed on retire (a unix
// socket's file removed). Whatever the socket kind (listen/open.ts), what
// arrives on it goes to the sink: the service's runtime.
import { describeAddress, type ServiceDefinition } from '../config/types.js';
import type { Listener, ListenerSink, PortHandOver } from '../listen/connection.js';
import { openListener } from '../listen/open.js';
import type { Logger } from '../log/types.js';
import { lastError, type ServiceStats } from './types.js';

export const BIND_RETRY_SECONDS = 30;

export class ServiceListener {
  private listener: Listener | null = null;
  private closing: Promise<void> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | null = null;
  private retired = false;

  constructor(
    /** The service's definition as it is now: a reload may update it between tries. */
    private readonly definition: () => ServiceDefinition,
    private readonly sink: ListenerSink,
    private readonly logger: Logger,
    private readonly stats: ServiceStats,
  ) {}

  /** What it is bound to, or null while a bind is being retried. */
  get address(): string | null {
    return this.listener?.address ?? null;
  }

  /** What a reload needs to hand this socket's port over (service/set.ts), or null. */
  get handOver(): PortHandOver | null {
    return this.listener?.handOver ?? null;
  }

  /** The socket's descriptor for an upgrade to pass on (connection.ts), or null. */
  get passable(): NonNullable<Listener['passable']> | null {
    return this.listener?.passable ?? null;
  }

  /** The pool's descriptor of a socket systemd passed that it serves on (listen/inherited.ts), or null. */
  get pooled(): number | null {
    const inherited = this.listener?.inherited;
    return inherited?.from === 'systemd' ? inherited.fd : null;
  }

  /** Resolves once the socket is closed (and a unix socket's file removed) after close(). */
  get closed(): Promise<void> {
    return this.closing;
  }

  /**
   * Binds now, or logs and tries again every 30 s until it binds or is
   * closed. `quiet` skips the bind_failed line (a first try that is expected
   * to fail and will be repeated at once). `reusePort`: the socket replaces
   * one that shares its port until it closes (service/set.ts), every try.
   */
  async open(onBound?: () => void, quiet = false, reusePort = false): Promise<boolean> {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const result = await openListener(this.definition(), this.sink, reusePort);
    if (this.retired) {
      if ('close' in result) await result.close();
      return false;
    }
    const def = this.definition();
    if ('close' in result) {
      this.listener = result;
      const from = result.inherited === undefined ? {} : { from: result.inherited.from, fd: result.inherited.fd, fdname: result.inherited.name };
      const fields = { service: def.name, address: `${result.address}/${def.protocol}`, ...from };
      if (result.note !== null) this.logger.log('warn', 'listening', { ...fields, message: result.note });
      else this.logger.log('info', 'listening', fields);
      onBound?.();
      return true;
    }
    this.stats.lastError = lastError('bind', result.message);
    if (!quiet) {
      this.logger.log('error', 'bind_failed', {
        service: def.name,
        address: describeAddress(def),
        error: result.message,
        retry_in: BIND_RETRY_SECONDS,
      });
    }
    this.retryTimer = setTimeout(() => void this.open(onBound, false, reusePort), BIND_RETRY_SECONDS * 1000);
    return false;
  }

  /** Stops listening, and trying to. */
  close(): void {
    this.retired = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.listener !== null) {
      const closing = this.listener.close();
      this.closing = Promise.resolve(closing).catch(() => undefined);
    }
    this.listener = null;
  }
}
