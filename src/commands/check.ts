// `superd check [FILE]`: what the daemon would serve, and every problem, without serving.
import type { CommonOptions } from '../cli.js';
import { loadOneFile, loadServicesDir } from '../config/load.js';
import { problemCount } from '../config/problems.js';
import { describeAddress, type ServiceDefinition } from '../config/types.js';
import { formatConfigError, type ConfigError } from '../errors.js';

function describeService(def: ServiceDefinition, selfUid: number): string {
  const mode = def.disabled ? 'disabled' : def.wait ? 'wait' : 'nowait';
  const handler =
    def.handler.kind === 'server' ? [def.handler.program, ...def.handler.argv.slice(1)].join(' ') : `builtin ${def.handler.name}`;
  // A program service that names no user runs as superd's own: say so when that is root.
  const user =
    def.credentials !== null ? ` user=${def.credentials.label}` : def.handler.kind === 'server' && selfUid === 0 ? ' user=root (no user key)' : '';
  return `${def.name} ${describeAddress(def)} ${mode} ${handler}${user}`;
}

const byPlace = (a: ConfigError, b: ConfigError): number => (a.file === b.file ? a.line - b.line : a.file < b.file ? -1 : 1);

export async function runCheck(o: CommonOptions & { file?: string }): Promise<number> {
  const load = o.file === undefined ? await loadServicesDir(o.servicesDir) : await loadOneFile(o.file);
  if (load.fatal !== null) {
    process.stderr.write(`${formatConfigError(load.fatal)}\n`);
    return 1;
  }
  const selfUid = process.getuid?.() ?? 0;
  const errors = load.files.flatMap((f) => f.errors);
  const warnings = load.files.flatMap((f) => f.warnings);
  for (const file of load.files) {
    // The daemon serves nothing new from a file with errors: it keeps what it
    // served from the file's last clean version (SPEC §4).
    const note = file.errors.length > 0 ? ` (not loaded: ${file.file} has errors)` : '';
    for (const def of file.services) process.stdout.write(`${describeService(def, selfUid)}${note}\n`);
  }
  // Warnings do not change the exit status (SPEC §1); each is on the line at fault, among the errors.
  const all = [...errors, ...warnings.map((w) => ({ ...w, message: `warning: ${w.message}` }))].sort(byPlace);
  for (const e of all) process.stderr.write(`${formatConfigError(e)}\n`);
  if (errors.length > 0) {
    const count = errors.reduce((n, e) => n + problemCount(e), 0);
    process.stderr.write(`${count} error${count === 1 ? '' : 's'} in ${o.file ?? o.servicesDir}\n`);
    return 1;
  }
  return 0;
}
