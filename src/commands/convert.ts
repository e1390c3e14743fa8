// `superd convert SOURCE [-o DIR]`: an inetd.conf file, or an xinetd file or
// directory, as service files: one services.d file on stdout, or one `.conf`
// per input file in DIR. A summary and any problem go to stderr; on a
// problem nothing is written and the exit status is 1.

import { convert, type ConvertOptions } from '../convert/convert.js';
import { formatConvertError, type ConvertError } from '../convert/types.js';
import type { Draft } from '../convert/types.js';
import { writeFiles } from '../convert/write.js';

export interface ConvertCommandOptions {
  source: string;
  output: string | undefined;
}

function failed(e: ConvertError): number {
  process.stderr.write(`${formatConvertError(e)}\nsuperd convert: nothing was written\n`);
  return 1;
}

function summary(drafts: readonly Draft[]): string {
  const off = drafts.filter((d) => d.unservable === null && d.disabled.length > 0).length;
  const none = drafts.filter((d) => d.unservable !== null).length;
  const on = drafts.length - off - none;
  const n = (k: number, what: string): string => `${k} ${what}`;
  return `${n(drafts.length, drafts.length === 1 ? 'service' : 'services')}: ${n(on, 'enabled')}, ${n(off, 'disabled')}, ${n(none, 'not converted (comments only)')}`;
}

export async function runConvert(o: ConvertCommandOptions, opts: ConvertOptions = {}): Promise<number> {
  const result = await convert(o.source, { into: o.output, ...opts });
  if (!result.ok) return failed(result.error);
  const c = result.value;
  for (const note of c.notes) process.stderr.write(`superd convert: note: ${note}\n`);
  const drafts = c.files.flatMap((f) => f.drafts);
  if (o.output === undefined) {
    process.stdout.write(c.combined);
    process.stderr.write(`superd convert: ${o.source} (${c.syntax}): ${summary(drafts)}\n`);
    return 0;
  }
  if (c.files.length === 0) {
    process.stderr.write(`superd convert: ${o.source} (${c.syntax}) defines no services: nothing was written\n`);
    return 0;
  }
  const written = await writeFiles(o.output, c.files);
  if (!written.ok) return failed(written.error);
  for (const [i, file] of written.value.entries()) {
    process.stderr.write(`superd convert: wrote ${file} from ${c.files[i]?.source ?? '?'}: ${summary(c.files[i]?.drafts ?? [])}\n`);
  }
  return 0;
}
