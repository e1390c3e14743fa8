// Drafts -> the text of a services.d file. A service superd can load is a
// section; one it cannot is the same section written as comments under the
// reason, so that nothing the old daemon served disappears without a word.

import type { Draft, Syntax } from './types.js';

/** The lines of the section itself, as superd would read them. */
export function sectionLines(d: Draft): string[] {
  const lines = [`[${d.name}]`];
  for (const k of d.keys) lines.push(...k.notes, `${k.key} = ${k.value}`);
  lines.push(...d.notes);
  if (d.disabled.length > 0) lines.push(...d.disabled.map((r) => `# disabled: ${r}`), 'disabled = yes');
  return lines;
}

export function renderDraft(d: Draft): string[] {
  const head = [...d.carried, `# ${d.file}:${d.line}: ${d.what}`, ...d.intro];
  if (d.unservable === null) return [...head, ...sectionLines(d)];
  const body = sectionLines(d).map((l) => (l.startsWith('#') ? l : `# ${l}`));
  return [...head, `# not converted: ${d.unservable}`, ...body];
}

export function fileHeader(source: string, syntax: Syntax, extra: readonly string[]): string[] {
  return [
    `# Converted by \`superd convert\` from ${source} (${syntax} syntax).`,
    `# '# ${syntax}:' comments are settings superd has no equivalent for, or maps with a difference;`,
    "# '# disabled:' says why a service is disabled, '# not converted:' why it is only a comment.",
    '# Check with `superd check`, see superd.conf(5).',
    ...extra,
  ];
}
