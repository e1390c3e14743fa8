// Reading the attributes xinetd took for a service (xinetd-resolve.ts
// checked their count and values): what map-xinetd.ts and its parts share.

import type { XAttr } from './xinetd.js';

/** The first word of a value xinetd took. */
export const first = (a: XAttr): string => a.values[0] ?? '';
export const isYes = (a: XAttr | undefined): boolean => a !== undefined && first(a).toLowerCase() === 'yes';
/** A count xinetd took, or null for UNLIMITED. */
export const count = (a: XAttr): number | null => (first(a).toUpperCase() === 'UNLIMITED' ? null : Number(first(a)));

export type Get = (name: string) => XAttr | undefined;

/** How xinetd said it would not start the service: the value it refused for `name`, else `says`. */
export type Missing = (name: string, says: string) => string;
