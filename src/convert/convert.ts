// `superd convert`, the steps in order: read and parse SOURCE (read.ts),
// map every service to a draft (map-xinetd.ts, map-inetd.ts), fit the
// drafts to this host (hosts.allow and hosts.deny in wrappers/, the rest
// in fit.ts), and render one text per input file plus one
// for everything (render.ts). Nothing here writes: write.ts does.

import { access } from 'node:fs/promises';
import path from 'node:path';
import { loadServicesDir } from '../config/load.js';
import type { ServiceDefinition } from '../config/types.js';
import { fail, ok, type Result } from '../errors.js';
import { fitToHost, loadHostFiles, type HostFiles } from './fit.js';
import type { MapContext } from './map-common.js';
import { mapInetdEntry } from './map-inetd.js';
import { defaultsNotes, mapXinetdService } from './map-xinetd.js';
import { readSource } from './read.js';
import { fileHeader, renderDraft } from './render.js';
import type { ConvertError, Draft, Syntax } from './types.js';
import { applyWrappers, wrappersHeader } from './wrappers/apply.js';
import { loadHostsAccess } from './wrappers/tables.js';
import { mergeDefaults } from './xinetd-resolve.js';

export interface ConvertOptions {
  /** Default: this host's /etc/passwd, /etc/group, /etc/services, and its programs. */
  host?: HostFiles;
  /** The tcp wrappers' tables that xinetd's libwrap and tcpd read. Default: /etc/hosts.allow and /etc/hosts.deny. */
  hostsAllow?: string;
  hostsDeny?: string;
  /** The services dir the output goes to: its services' names and addresses are not taken again. */
  into?: string;
}

export interface ConvertedFile {
  /** The input file. */
  source: string;
  /** The services and comments it became, as a services.d file. */
  text: string;
  drafts: Draft[];
}

export interface Conversion {
  syntax: Syntax;
  /** One per input file that defines at least one service, in reading order. */
  files: ConvertedFile[];
  /** Everything as one services.d file. */
  combined: string;
  /** What the operator should know that is not in the files, for stderr. */
  notes: string[];
}

interface Group {
  source: string;
  drafts: Draft[];
  trailing: string[];
}

/** The services of a services dir that exists and can be read; none otherwise (it is created later). */
async function existingServices(dir: string | undefined): Promise<ServiceDefinition[]> {
  if (dir === undefined || !(await access(dir).then(() => true, () => false))) return [];
  const load = await loadServicesDir(dir);
  return load.files.flatMap((f) => f.services);
}

export async function convert(source: string, opts: ConvertOptions = {}): Promise<Result<Conversion, ConvertError>> {
  const input = await readSource(source);
  if (!input.ok) return input;
  const wrappers = await loadHostsAccess(opts.hostsAllow ?? '/etc/hosts.allow', opts.hostsDeny ?? '/etc/hosts.deny');
  if (!wrappers.ok) return wrappers;
  const host = opts.host ?? (await loadHostFiles());
  const ctx: MapContext = { wrappers: wrappers.value, host };
  const groups: Group[] = [];
  const extra: string[] = [];
  const notes: string[] = [];
  // An include xinetd would skip: said on stderr and at the top of the output.
  for (const skipped of input.value.skipped) {
    notes.push(skipped);
    extra.push(`# xinetd: ${skipped}`);
  }

  if (input.value.syntax === 'xinetd') {
    const files = input.value.files;
    const defaults = mergeDefaults(files.flatMap((f) => f.blocks));
    const fromDefaults = defaultsNotes(defaults);
    if (!fromDefaults.ok) return fromDefaults;
    extra.push(...fromDefaults.value);
    for (const f of files) {
      const drafts: Draft[] = [];
      for (const block of f.blocks) {
        if (block.kind !== 'service') continue;
        const mapped = mapXinetdService(block, defaults, ctx);
        if (!mapped.ok) return fail(mapped.error);
        drafts.push(mapped.value);
      }
      groups.push({ source: f.path, drafts, trailing: f.trailing });
    }
    if (defaults === null) {
      const conf = path.join(path.dirname(path.resolve(source)), 'xinetd.conf');
      const exists = await access(conf).then(() => true, () => false);
      if (exists && path.resolve(conf) !== path.resolve(source)) {
        notes.push(`${conf} may hold a defaults block for these services, which was not applied: convert ${conf} to apply it`);
      }
    }
  } else {
    for (const f of input.value.files) {
      groups.push({ source: f.path, drafts: f.entries.flatMap((e) => mapInetdEntry(e, ctx, f)), trailing: f.trailing });
    }
  }

  const drafts = groups.flatMap((g) => g.drafts);
  let ruled = false;
  for (const d of drafts) ruled = applyWrappers(d, ctx.wrappers) || ruled;
  if (ruled) extra.push(...wrappersHeader(ctx.wrappers));
  await fitToHost(drafts, host, await existingServices(opts.into));
  const syntax = input.value.syntax;
  const body = (g: Group): string[] => [...g.drafts.map((d) => renderDraft(d).join('\n')), ...(g.trailing.length > 0 ? [g.trailing.join('\n')] : [])];
  const text = (header: string[], blocks: string[]): string => `${[header.join('\n'), ...blocks].join('\n\n')}\n`;
  const withServices = groups.filter((g) => g.drafts.length > 0);
  const files = withServices.map((g) => ({ source: g.source, drafts: g.drafts, text: text(fileHeader(g.source, syntax, extra), body(g)) }));
  const combined = text(fileHeader(source, syntax, extra), groups.flatMap(body));
  return ok({ syntax, files, combined, notes });
}
