// Which syntax a file given to `superd convert` is written in: xinetd's,
// inetd.conf's, or neither (superd's own INI, or something else), by the
// same first-line rule `superd check` uses (config/foreign.ts).

import { fileLines } from '../config/scan.js';
import { INETD_HOST_LINE, INI_START, looksForeign, meaningful } from '../config/foreign.js';
import { convertError, type ConvertError, type Syntax } from './types.js';
import { clip } from '../config/clip.js';
import { fail, ok, type Result } from '../errors.js';

/**
 * The syntax of a file given to `superd convert`. A file with nothing but
 * comments (an inetd.conf whose every line is commented out) converts to
 * nothing whatever its syntax, so it is taken as inetd.conf.
 */
export function detectSyntax(file: string, text: string): Result<Syntax, ConvertError> {
  const found = looksForeign(text);
  if (found !== null) return ok(found.syntax);
  const lines = fileLines(text);
  const index = lines.findIndex((l) => meaningful(l.trim()) && !INETD_HOST_LINE.test(l.trim()));
  if (index < 0) return ok('inetd');
  const first = (lines[index] ?? '').trim();
  if (INI_START.test(first)) {
    return fail(convertError('already_superd', file, index + 1,
      'this is already a superd service file ([section] and key = value): copy it into the services dir as it is'));
  }
  return fail(convertError('unknown_syntax', file, index + 1,
    `neither xinetd syntax ('service NAME' and a { … } block) nor inetd.conf syntax ` +
      `('SERVICE stream tcp nowait USER PROGRAM ARGS…'): '${clip(first)}'`));
}
