// Transitional (issue 25): the log sink moved to log/sink.ts, LogFlow to
// log/types.ts. Only files that other branches of the same change are
// rewriting still import it from here (spawn/lines.ts, spawn/stderr.ts);
// once those land, point them at log/types.ts and delete this file.
export type { LogFlow } from './log/types.js';
