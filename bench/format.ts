// Number formatting and TSV for the report.

export function round(v: number | null | undefined, d: number): number | null {
  return v === null || v === undefined ? null : Number(v.toFixed(d));
}

export function median(a: (number | null | undefined)[]): number | null {
  const s = a.filter((x): x is number => x !== null && x !== undefined && !Number.isNaN(x)).sort((x, y) => x - y);
  if (!s.length) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function fmtMs(v: number | null | undefined): string {
  if (v === null || v === undefined) return 'NA';
  return v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0);
}

/** `lo–hi`, or one value when they are equal, or NA. */
export function fmtRange(vals: (number | null | undefined)[], f: (x: number) => string = (x) => String(x)): string {
  const s = vals.filter((x): x is number => x !== null && x !== undefined);
  if (!s.length) return 'NA';
  const lo = Math.min(...s), hi = Math.max(...s);
  return lo === hi ? f(lo) : `${f(lo)}–${f(hi)}`;
}

/** The distinct values, joined. */
export function distinct(vals: (string | null)[], sep = '; '): string {
  return [...new Set(vals)].join(sep);
}

/** A header line and one line per object, columns the first object's keys; null is NA. */
export function toTsv(objs: object[]): string {
  const first = objs[0];
  if (!first) return '';
  const keys = Object.keys(first);
  const cell = (v: unknown): string => (v === null || v === undefined ? 'NA' : String(v).replace(/[\t\n]/g, ' '));
  return [keys.join('\t'), ...objs.map((o) => keys.map((k) => cell((o as Record<string, unknown>)[k])).join('\t'))].join('\n') + '\n';
}
