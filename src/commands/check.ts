// `superd check`: what the daemon would serve, and every problem, without serving.
import type { CommonOptions } from '../cli.js';
import { loadServicesDir } from '../config/load.js';
import { FileProblems, problemCount } from '../config/problems.js';
import { describeAddress, type ServiceDefinition } from '../config/types.js';
import { checkProgram } from '../config/validate.js';
import { configError, formatConfigError, type ConfigError } from '../errors.js';

function describeService(def: ServiceDefinition): string {
  const mode = def.disabled ? 'disabled' : def.wait ? 'wait' : 'nowait';
  const handler =
    def.handler.kind === 'server' ? [def.handler.program, ...def.handler.argv.slice(1)].join(' ') : `builtin ${def.handler.name}`;
  const user = def.credentials === null ? '' : ` user=${def.credentials.label}`;
  return `${def.name} ${describeAddress(def)} ${mode} ${handler}${user}`;
}

const byPlace = (a: ConfigError, b: ConfigError): number => (a.file === b.file ? a.line - b.line : a.file < b.file ? -1 : 1);

export async function runCheck(o: CommonOptions): Promise<number> {
  const load = await loadServicesDir(o.servicesDir);
  if (load.fatal !== null) {
    process.stderr.write(`${formatConfigError(load.fatal)}\n`);
    return 1;
  }
  const errors: ConfigError[] = [];
  const warnings: ConfigError[] = [];
  const valid: ServiceDefinition[] = [];
  for (const file of load.files) {
    // The missing programs join the file's errors under the same limit per file.
    const problems = new FileProblems(file.file, 'error');
    file.errors.forEach(problems.push);
    for (const def of file.services) {
      // A program that is missing now would fail at every connection: say so here.
      const problem = def.handler.kind === 'server' && !def.disabled ? await checkProgram(def.handler.program) : null;
      if (problem === null) valid.push(def);
      else problems.push(configError('bad_program', def.origin.file, def.origin.line, def.name, problem));
    }
    errors.push(...problems.list());
    warnings.push(...file.warnings);
  }
  for (const def of valid) process.stdout.write(`${describeService(def)}\n`);
  // Warnings do not change the exit status (SPEC §1); each is on the line at fault, among the errors.
  const all = [...errors, ...warnings.map((w) => ({ ...w, message: `warning: ${w.message}` }))].sort(byPlace);
  for (const e of all) process.stderr.write(`${formatConfigError(e)}\n`);
  if (errors.length > 0) {
    const count = errors.reduce((n, e) => n + problemCount(e), 0);
    process.stderr.write(`${count} error${count === 1 ? '' : 's'} in ${o.servicesDir}\n`);
    return 1;
  }
  return 0;
}

