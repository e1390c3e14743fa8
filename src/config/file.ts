// One service file's text -> its valid services, its errors and its
// warnings. Sections are independent: a broken one never hides the others;
// names and addresses are claimed against the files before it (claims.ts).
import { configError, type ConfigError } from '../errors.js';
import type { Claims } from './claims.js';
import { looksForeign } from './foreign.js';
import { FileProblems } from './problems.js';
import { scanIni } from './scan.js';
import { nearest, noSuggestion } from './suggest.js';
import { describeAddress, type ServiceDefinition } from './types.js';
import { validateSection, type ValidateContext } from './validate.js';

export interface FileResult {
  file: string;
  /** The sections that validated, even when other sections of the file did not. */
  services: ServiceDefinition[];
  /** The first MAX_PROBLEMS_PER_FILE in line order, then one `more_errors` summary if there were more. */
  errors: ConfigError[];
  /**
   * What does not stop a service but is probably a mistake (a value with
   * ` #` or ` ;` in it: a comment on the wrong line), limited as errors are.
   * `superd check` prints them as `FILE:LINE: [service] warning: message`.
   */
  warnings: ConfigError[];
}

export interface LoadedFile extends FileResult {
  /** Where each service's `server =` is, for an error about its program. */
  serverLines: Map<ServiceDefinition, number>;
  /** Each service's key lines, for an error about a file a key names (tls-files.ts). */
  keyLines: Map<ServiceDefinition, ReadonlyMap<string, number>>;
}

export function loadFile(file: string, text: string, ctx: ValidateContext, claims: Claims): LoadedFile {
  // An xinetd or inetd.conf file dropped into the services dir is one error
  // that says so, not one per line.
  const foreign = looksForeign(text);
  if (foreign !== null) {
    const message =
      `this is an ${foreign.syntax === 'xinetd' ? 'xinetd' : 'inetd.conf'} file, not a superd service file: move it out of ` +
      `the services dir and convert it with 'superd convert ${file} -o DIR' (see MIGRATION in superd(8))`;
    return { file, services: [], errors: [configError('foreign_syntax', file, foreign.line, null, message)], warnings: [], serverLines: new Map(), keyLines: new Map() };
  }
  // A file of junk has an error on every line: only the first few are kept,
  // and no work is spent on the hints of those that will not be shown.
  const errors = new FileProblems(file, 'error');
  const warnings = new FileProblems(file, 'warning');
  const scanned = scanIni(file, text, errors);
  const services: ServiceDefinition[] = [];
  const serverLines = new Map<ServiceDefinition, number>();
  const keyLines = new Map<ServiceDefinition, ReadonlyMap<string, number>>();
  for (const section of scanned.sections) {
    const nameClash = claims.claimName(section.name, file, section.line);
    if (nameClash !== null) {
      errors.push(
        configError('conflict', file, section.line, section.name,
          `service name '${section.name}' is already defined at ${nameClash}: rename one of them`),
      );
    }
    const suggest = errors.wants(section.line) ? nearest : noSuggestion;
    const result = validateSection(file, section, { ...ctx, suggest });
    result.errors.forEach(errors.push);
    result.warnings.forEach(warnings.push);
    const def = result.definition;
    if (def === null || nameClash !== null) continue;
    // A disabled service holds no socket, so it may share an address with its alternative.
    if (!def.disabled) {
      const clash = claims.claimAddress(def);
      if (clash !== null) {
        const line = result.keyLines.get('port') ?? result.keyLines.get('path') ?? section.line;
        errors.push(
          configError('conflict', file, line, def.name,
            `listen address ${describeAddress(def)} is already taken by [${clash.name}] at ` +
              `${clash.origin.file}:${clash.origin.line} (${describeAddress(clash)}): change port, bind or path`),
        );
        continue;
      }
    }
    services.push(def);
    keyLines.set(def, result.keyLines);
    const serverLine = result.keyLines.get('server');
    if (serverLine !== undefined) serverLines.set(def, serverLine);
  }
  return { file, services, errors: errors.list(), warnings: warnings.list(), serverLines, keyLines };
}
