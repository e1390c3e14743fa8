// What happens to a new connection given how busy its service is (SPEC §2
// max_children and queue). Pure, so the rules are tested without sockets.

export type Admission = 'start' | 'queue' | 'refuse';

export interface Load {
  running: number;
  queued: number;
}

export interface Limits {
  maxChildren: number;
  queue: number;
}

export function admit(load: Load, limits: Limits): Admission {
  // Queued connections go first: a new arrival never overtakes them.
  if (load.running < limits.maxChildren && load.queued === 0) return 'start';
  if (load.queued < limits.queue) return 'queue';
  return 'refuse';
}
