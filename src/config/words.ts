// Word splitting for `args`, `env` and `pass_env`: the quoting rules of a POSIX
// shell and nothing else. There is no shell behind superd, so there is no
// expansion of any kind: `$HOME`, `*`, `~`, `#`, `|` and `;` are plain
// characters. Quotes and backslashes exist only so a word can hold spaces.

import { fail, ok, type Result } from '../errors.js';

const BLANK = new Set([' ', '\t', '\n', '\r']);

/** In double quotes a backslash escapes only these, as in sh; elsewhere it is literal. */
const DQUOTE_ESCAPABLE = new Set(['\\', '"', '$', '`', '\n']);

export function splitWords(text: string): Result<string[], { message: string }> {
  const words: string[] = [];
  let word = '';
  // Separate from `word !== ''` so that '' and "" yield an empty word, as in sh.
  let inWord = false;
  let i = 0;

  while (i < text.length) {
    const c = text[i] as string;

    if (BLANK.has(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i += 1;
      continue;
    }

    if (c === '\\') {
      if (i + 1 >= text.length) {
        return fail({ message: 'trailing backslash: escape it as \\\\ or quote it as \'\\\'' });
      }
      const next = text[i + 1] as string;
      // Backslash-newline is a line continuation in sh: both vanish, and start no word.
      if (next !== '\n') {
        word += next;
        inWord = true;
      }
      i += 2;
      continue;
    }

    inWord = true;

    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) {
        return fail({ message: `unterminated single quote at column ${i + 1}: add the closing '` });
      }
      word += text.slice(i + 1, end);
      i = end + 1;
      continue;
    }

    if (c === '"') {
      const start = i;
      i += 1;
      let closed = false;
      while (i < text.length) {
        const d = text[i] as string;
        if (d === '"') {
          closed = true;
          i += 1;
          break;
        }
        if (d === '\\' && i + 1 < text.length && DQUOTE_ESCAPABLE.has(text[i + 1] as string)) {
          const e = text[i + 1] as string;
          if (e !== '\n') word += e;
          i += 2;
          continue;
        }
        word += d;
        i += 1;
      }
      if (!closed) {
        return fail({ message: `unterminated double quote at column ${start + 1}: add the closing "` });
      }
      continue;
    }

    word += c;
    i += 1;
  }

  if (inWord) words.push(word);
  return ok(words);
}
