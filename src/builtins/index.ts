import type { BuiltinName } from '../config/types.js';
import { chargen } from './chargen.js';
import { daytime } from './daytime.js';
import { discard } from './discard.js';
import { echo } from './echo.js';
import { time } from './time.js';
import type { Builtin } from './types.js';

export type { Builtin } from './types.js';

const BUILTINS: Readonly<Record<BuiltinName, Builtin>> = { echo, discard, chargen, daytime, time };

export function builtin(name: BuiltinName): Builtin {
  return BUILTINS[name];
}
