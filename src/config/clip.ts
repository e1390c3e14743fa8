// Text from a service file that is quoted back in a message. A file may hold
// a megabyte on one line, and anything at all: the message must stay one
// short line a terminal and a log parser can take.

/** Longer text is cut to this many characters and ends in '…'. */
export const CLIP_CHARS = 64;

/**
 * `text` cut to CLIP_CHARS with '…' appended, and control characters written
 * as `\xNN`, so that quoting it can neither flood nor drive a terminal.
 */
export function clip(text: string, max = CLIP_CHARS): string {
  let head = text.length > max ? text.slice(0, max) : text;
  // Do not leave half of a surrogate pair at the cut.
  if (head.length < text.length && /[\uD800-\uDBFF]$/.test(head)) head = head.slice(0, -1);
  const shown = head.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return head.length < text.length ? `${shown}…` : shown;
}
