// xinetd and inetd split arguments on blanks and know no quoting, so a `"`
// or `\` in their files is a literal character. superd's `args`, `env` and
// `pass_env` are split as a shell splits them (src/config/words.ts): each word
// is quoted here so that superd gets back exactly the words the old daemon
// passed.

/** Characters that mean nothing to superd's splitter. `#` and `;` are out: ` #` in a value draws a warning. */
const PLAIN = /^[A-Za-z0-9_@%+=:,./-]+$/;

function quoteWord(word: string): string {
  if (PLAIN.test(word)) return word;
  return `'${word.replace(/'/g, "'\\''")}'`;
}

export function quoteWords(words: readonly string[]): string {
  return words.map(quoteWord).join(' ');
}
