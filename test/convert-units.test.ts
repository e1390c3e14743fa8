// The converter's small pure parts: xinetd address forms to CIDR blocks,
// containment between blocks, and the quoting that hands superd's splitter
// back the very words xinetd and inetd passed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAddressList } from '../src/config/values.js';
import { splitWords } from '../src/config/words.js';
import { convertAddresses, strictlyInside } from '../src/convert/access.js';
import { quoteWords } from '../src/convert/quote.js';

test("xinetd's address forms become addresses and CIDR blocks superd takes; names are set apart", () => {
  const c = convertAddresses([
    '10.1.2.3', '10.1.2.0', '10.1.0.0', '10.0.0.0', '0.0.0.0', '192.168.{1,2}', '172.16.5.{7,9}', '10.{3}',
    '10.9.0.0/16', '::1', '2001:db8::/32', 'host.example.org', '.example.net', 'mynet', '1.2.{300}', '1.2.3.4/40',
  ]);
  assert.deepEqual(c.blocks, [
    '10.1.2.3', '10.1.2.0/24', '10.1.0.0/16', '10.0.0.0/8', '0.0.0.0/0', '::/0', '192.168.1.0/24', '192.168.2.0/24',
    '172.16.5.7', '172.16.5.9', '10.3.0.0/16', '10.9.0.0/16', '::1', '2001:db8::/32',
  ]);
  assert.deepEqual(c.names, ['host.example.org', '.example.net', 'mynet', '1.2.{300}', '1.2.3.4/40']);
  const parsed = parseAddressList('only_from', c.blocks.join(' '));
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.error);
});

test('strictlyInside: a more specific block inside a wider one, either family', () => {
  assert.equal(strictlyInside('10.1.2.3', '10.0.0.0/8'), true);
  assert.equal(strictlyInside('10.1.2.0/24', '10.1.0.0/16'), true);
  assert.equal(strictlyInside('10.0.0.0/8', '10.1.2.3'), false);
  assert.equal(strictlyInside('10.0.0.0/8', '10.0.0.0/8'), false, 'not strictly');
  assert.equal(strictlyInside('11.0.0.1', '10.0.0.0/8'), false);
  assert.equal(strictlyInside('2001:db8::1', '2001:db8::/32'), true);
  assert.equal(strictlyInside('2001:db9::1', '2001:db8::/32'), false);
  assert.equal(strictlyInside('::ffff:10.0.0.1', '::ffff:0:0/96'), true);
  assert.equal(strictlyInside('10.0.0.1', '::/0'), false, 'families do not mix');
});

test('quoted words split back to the same words', () => {
  const words = ['plain', '--base-path=/srv/git', '"quoted"', "it's", 'a\\b', '#hash', 'semi;colon', '$HOME', '*', '', 'tab\there'];
  const split = splitWords(quoteWords(words));
  assert.ok(split.ok);
  assert.deepEqual(split.ok && split.value, words);
  assert.equal(quoteWords(['daemon', '--inetd', '/srv/git']), 'daemon --inetd /srv/git', 'plain words stay plain');
});
