// One xinetd service's attributes with the defaults block applied, as xinetd
// applies it: an attribute the service does not set comes from defaults; a
// set attribute (only_from, passenv…) that the service changes with `+=` or
// `-=` starts from the defaults' set, one it sets with `=` replaces it.
// `interface` is another name for `bind`.

import { fail, ok, type Result } from '../errors.js';
import { convertError, type ConvertError } from './types.js';
import { LIST_ATTRS, type XAttr, type XBlock } from './xinetd.js';

export interface XDefaults {
  attrs: XAttr[];
  /** The (first) defaults block. */
  file: string;
  line: number;
  /** `FILE:LINE` of it. */
  where: string;
}

export interface Resolved {
  single: Map<string, XAttr>;
  lists: Map<string, string[]>;
  /** Attributes (single or list) that came, wholly or partly, from defaults. */
  fromDefaults: Set<string>;
}

const canonical = (name: string): string => (name === 'interface' ? 'bind' : name);

/** Every defaults block, in order, as one. xinetd allows one; more are merged rather than refused. */
export function mergeDefaults(blocks: readonly XBlock[]): XDefaults | null {
  const found = blocks.filter((b) => b.kind === 'defaults');
  const first = found[0];
  if (first === undefined) return null;
  return { attrs: found.flatMap((b) => b.attrs), file: first.file, line: first.line, where: `${first.file}:${first.line}` };
}

/** The defaults' sets: in defaults `=` adds, as `+=` does. */
export function defaultLists(defaults: XDefaults | null): Map<string, string[]> {
  const lists = new Map<string, string[]>();
  for (const a of defaults?.attrs ?? []) {
    if (!LIST_ATTRS.has(a.name) && a.name !== 'disabled' && a.name !== 'enabled') continue;
    const current = lists.get(a.name) ?? [];
    lists.set(a.name, a.op === '-=' ? current.filter((v) => !a.values.includes(v)) : [...current, ...a.values]);
  }
  return lists;
}

export function resolve(b: XBlock, defaults: XDefaults | null): Result<Resolved, ConvertError> {
  const r: Resolved = { single: new Map(), lists: new Map(), fromDefaults: new Set() };
  const base = defaultLists(defaults);
  const setByEquals = new Set<string>();
  for (const a of b.attrs) {
    const name = canonical(a.name);
    if (!LIST_ATTRS.has(name)) {
      if (r.single.has(name)) {
        return fail(convertError('xinetd_syntax', b.file, a.line, `service ${b.name}: bind and interface are the same attribute: keep one`));
      }
      r.single.set(name, a);
      continue;
    }
    let current = r.lists.get(name);
    if (a.op === '=' && !setByEquals.has(name)) {
      // The first `=` replaces the defaults' set; later lines add to it.
      setByEquals.add(name);
      current = [];
    } else if (current === undefined) {
      current = [...(base.get(name) ?? [])];
      if (base.has(name)) r.fromDefaults.add(name);
    }
    r.lists.set(name, a.op === '-=' ? current.filter((v) => !a.values.includes(v)) : [...current, ...a.values]);
  }
  for (const a of defaults?.attrs ?? []) {
    const name = canonical(a.name);
    if (LIST_ATTRS.has(name) || name === 'disabled' || name === 'enabled') continue;
    if (!r.single.has(name)) {
      r.single.set(name, a);
      r.fromDefaults.add(name);
    }
  }
  for (const [name, values] of base) {
    if (name === 'disabled' || name === 'enabled' || r.lists.has(name)) continue;
    r.lists.set(name, values);
    r.fromDefaults.add(name);
  }
  return ok(r);
}
