// `superd unit`: print a systemd unit for this installation (SPEC §1), with
// the absolute paths of the node and the bin/superd that are running now, as
// `pm2 startup` does: a unit naming `superd` or `node` alone would depend on
// systemd's PATH, which has neither an nvm node nor one in /opt.
import { readFileSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommonOptions } from '../cli.js';
import { errorMessage, fail, ok, type Result } from '../errors.js';
import { renderUnit, UNIT_PID_FILE, type UnitInstall } from './unit-template.js';

/** This package's bin/superd (dist/src/commands/ -> the package root). */
const ENTRY = fileURLToPath(new URL('../../../bin/superd', import.meta.url));

/**
 * The options node gets from bin/superd's first line (`#!/usr/bin/env -S node
 * OPTIONS`): the one place they are written, so a unit that runs node itself
 * passes the same.
 */
export function nodeOptionsOf(shebang: string): Result<string[]> {
  const m = /^#!\S*\/env(?: -S)? node((?:[ \t]+-\S+)*)[ \t]*$/.exec(shebang);
  if (m === null) return fail({ code: 'shebang', message: `cannot read node's options from '${shebang}': expected '#!/usr/bin/env -S node [OPTION]...'` });
  return ok((m[1] ?? '').trim().split(/[ \t]+/).filter((w) => w !== ''));
}

/** The unit's paths and options for this installation, or why it cannot have one. */
export function thisInstall(o: Pick<CommonOptions, 'servicesDir' | 'pidFile'>): Result<UnitInstall> {
  let superd: string;
  let node: string;
  let shebang: string;
  try {
    superd = realpathSync(ENTRY);
    node = realpathSync(process.execPath);
    shebang = readFileSync(superd, 'utf8').split('\n', 1)[0] ?? '';
  } catch (err) {
    return fail({ code: 'install', message: `cannot find this installation's files: ${errorMessage(err)}` });
  }
  const nodeOptions = nodeOptionsOf(shebang);
  if (!nodeOptions.ok) return nodeOptions;
  const install: UnitInstall = {
    node,
    nodeOptions: nodeOptions.value,
    superd,
    // systemd starts the unit in /: a relative path would mean something else there.
    servicesDir: resolve(o.servicesDir),
    pidFile: resolve(o.pidFile ?? UNIT_PID_FILE),
  };
  for (const path of [install.node, install.superd, install.servicesDir, install.pidFile]) {
    if (/[\x00-\x1f\x7f]/.test(path)) return fail({ code: 'path', message: `a unit cannot name ${JSON.stringify(path)}: it has a control character` });
  }
  return ok(install);
}

export function runUnit(o: CommonOptions): number {
  const install = thisInstall(o);
  if (!install.ok) {
    process.stderr.write(`superd unit: ${install.error.message}\n`);
    return 1;
  }
  process.stdout.write(renderUnit(install.value));
  return 0;
}
