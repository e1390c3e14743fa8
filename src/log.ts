// Transitional (issue 25): logging moved to log/. Only files that other
// branches of the same change are rewriting still import it from here
// (spawn/stderr.ts, control/server.ts); once those land, point them at
// log/types.ts and delete this file.
export type * from './log/types.js';
