// Transitional (issue 25): logging moved to log/. Only control/server.ts,
// which another branch of the same change is rewriting, still imports it
// from here; once that lands, point it at log/types.ts and delete this file.
export type * from './log/types.js';
