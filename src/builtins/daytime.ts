// RFC 867: the date and time as one human-readable line, then close.
import type { Builtin } from './types.js';
import { linger, replyAndEnd } from './reply.js';

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = [
  'January', 'February', 'March', 'April', 'May', 'June',
  'July', 'August', 'September', 'October', 'November', 'December',
];

const two = (n: number): string => String(n).padStart(2, '0');

/**
 * `Sunday, November 29, 2026 22:05:01-UTC` and CRLF. Always UTC, so the
 * answer does not depend on superd's time zone; the day of the month has two
 * digits, as the usual strftime("%A, %B %d, %Y %H:%M:%S-%Z") gives.
 */
export function daytimeLine(date: Date): string {
  const day = DAYS[date.getUTCDay()];
  const month = MONTHS[date.getUTCMonth()];
  const clock = `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())}`;
  return `${day}, ${month} ${two(date.getUTCDate())}, ${date.getUTCFullYear()} ${clock}-UTC\r\n`;
}

export const daytime: Builtin = {
  serveStream(socket, done, now = () => new Date()) {
    replyAndEnd(socket, done, Buffer.from(daytimeLine(now()), 'latin1'));
  },
  resumeStream: linger,
  answerDatagram(_request, now = new Date()) {
    return Buffer.from(daytimeLine(now), 'latin1');
  },
};
