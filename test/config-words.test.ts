import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitWords } from '../src/config/words.js';

function words(text: string): string[] {
  const r = splitWords(text);
  assert.ok(r.ok, `expected ${JSON.stringify(text)} to split`);
  return r.value;
}

function failure(text: string): string {
  const r = splitWords(text);
  assert.ok(!r.ok, `expected ${JSON.stringify(text)} to fail`);
  return r.error.message;
}

test('blanks separate words, runs of them count once', () => {
  assert.deepEqual(words('  daemon\t--inetd   /srv/git  '), ['daemon', '--inetd', '/srv/git']);
  assert.deepEqual(words(''), []);
  assert.deepEqual(words('   '), []);
});

test('single quotes are literal, backslashes and double quotes included', () => {
  assert.deepEqual(words(`'a b' 'x\\y' '"q"'`), ['a b', 'x\\y', '"q"']);
});

test('double quotes: backslash escapes only \\ " $ ` and newline', () => {
  assert.deepEqual(words(`"a \\"b\\" \\\\ \\$ \\\` \\n \\x"`), ['a "b" \\ $ ` \\n \\x']);
  assert.deepEqual(words('"a\\\nb"'), ['ab']);
});

test('a backslash outside quotes escapes the next character', () => {
  assert.deepEqual(words('a\\ b c\\"d \\\'e \\\\'), ['a b', 'c"d', "'e", '\\']);
  assert.deepEqual(words('a\\\nb'), ['ab']);
  assert.deepEqual(words('a \\\n'), ['a']);
});

test('quoted parts join with their neighbours into one word', () => {
  assert.deepEqual(words(`--name='my value'"s"x`), ['--name=my valuesx']);
  assert.deepEqual(words(`a"b c"'d e'f`), ['ab cd ef']);
});

test('empty quotes are an empty word', () => {
  assert.deepEqual(words(`'' "" x`), ['', '', 'x']);
});

test('nothing is expanded: no variables, globs, comments or operators', () => {
  assert.deepEqual(words('$HOME ~ *.txt #c a;b |x >y `z` $(w)'), [
    '$HOME', '~', '*.txt', '#c', 'a;b', '|x', '>y', '`z`', '$(w)',
  ]);
});

test('unterminated quotes and trailing backslash are errors that say what to do', () => {
  assert.match(failure(`a 'b`), /unterminated single quote at column 3: add the closing '/);
  assert.match(failure(`a "b\\"`), /unterminated double quote at column 3/);
  assert.match(failure('abc\\'), /trailing backslash/);
});
