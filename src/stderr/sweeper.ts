// The stderr pipes of exited handlers that something they left behind still
// holds open, closed a while after the exit: they pin nothing for long.
import type { StderrReader } from './read.js';

const SWEEP_MS = 1000;

/**
 * A handler's stderr pipe is read until its end of file, which comes when
 * the last process holding it is gone. One kept open by something the handler
 * left behind is closed `afterMs` after the handler exited: one sweep a
 * second for all of them, no timer per handler. A pipe that ends (as nearly
 * all do, a moment after their handler) leaves the set at once, so nothing is
 * kept alive long enough to burden the garbage collector.
 */
export class PipeSweeper {
  private readonly open = new Map<StderrReader, number>();
  private sweep: NodeJS.Timeout | null = null;

  constructor(private readonly afterMs: number) {}

  closeLater(reader: StderrReader): void {
    if (reader.done) return;
    this.open.set(reader, performance.now() + this.afterMs);
    reader.ondone = () => this.open.delete(reader);
    if (this.sweep === null) {
      this.sweep = setInterval(() => this.run(), SWEEP_MS);
      this.sweep.unref();
    }
  }

  private run(): void {
    const now = performance.now();
    for (const [reader, at] of this.open) if (now >= at) reader.stop();
    if (this.open.size === 0 && this.sweep !== null) {
      clearInterval(this.sweep);
      this.sweep = null;
    }
  }
}
