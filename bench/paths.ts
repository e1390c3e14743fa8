// Where things are. This file runs as dist/bench/paths.js, so the repository root is two up.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const BENCH = path.join(ROOT, 'bench');
export const BUILD = path.join(BENCH, '.build');
export const LOADGEN_SRC = path.join(BENCH, 'loadgen.c');
export const LOADGEN = path.join(BUILD, 'loadgen');
