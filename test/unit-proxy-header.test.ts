// The PROXY header parser (src/proxy/header.ts), pure: every valid shape of
// versions 1 and 2, split at every byte (each prefix must wait for more),
// with the client's first bytes after it (never counted into the header),
// and every malformed shape we could think of (an error, never a wait, and
// never a throw).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { maxHeaderLength, parseHeader, V1_MAX, V2_MAX, type HeaderParse, type ProxyVersion } from '../src/proxy/header.js';

const SIG = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');

function v2(verCmd: number, fam: number, body: Buffer | number[]): Buffer {
  const b = Buffer.from(body);
  const head = Buffer.alloc(4);
  head[0] = verCmd;
  head[1] = fam;
  head.writeUInt16BE(b.length, 2);
  return Buffer.concat([SIG, head, b]);
}
const ports = (s: number, d: number): number[] => [s >> 8, s & 0xff, d >> 8, d & 0xff];
const v1 = (s: string): Buffer => Buffer.from(s, 'latin1');

type Parsed = Extract<HeaderParse, { kind: 'local' | 'proxied' }>;
/** A parse without its length (the header's own length is the case's). */
type Want = Parsed extends infer P ? (P extends Parsed ? Omit<P, 'length'> : never) : never;

interface Valid {
  name: string;
  header: Buffer;
  versions: ProxyVersion[];
  want: Want;
}

const proxied = (family: 'ipv4' | 'ipv6', source: string, sport: number, destination: string, dport: number): Want =>
  ({ kind: 'proxied', family, source: { address: source, port: sport }, destination: { address: destination, port: dport } });

const VALID: Valid[] = [
  { name: 'v1 TCP4', header: v1('PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n'), versions: ['v1', 'any'], want: proxied('ipv4', '192.0.2.7', 56324, '198.51.100.1', 443) },
  { name: 'v1 TCP4 extremes', header: v1('PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n'), versions: ['v1', 'any'], want: proxied('ipv4', '255.255.255.255', 65535, '0.0.0.0', 0) },
  { name: 'v1 TCP6, upper case and uncompressed, written canonically', header: v1('PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::1 1 2\r\n'), versions: ['v1', 'any'], want: proxied('ipv6', '2001:db8::1', 1, '::1', 2) },
  { name: 'v1 TCP6 with an IPv4-mapped client, written as plain IPv4', header: v1('PROXY TCP6 ::ffff:192.0.2.9 ::ffff:127.0.0.1 4000 80\r\n'), versions: ['v1', 'any'], want: proxied('ipv6', '192.0.2.9', 4000, '127.0.0.1', 80) },
  { name: 'v1 UNKNOWN, short', header: v1('PROXY UNKNOWN\r\n'), versions: ['v1', 'any'], want: { kind: 'local' } },
  { name: 'v1 UNKNOWN, the longest line (107 bytes)', header: v1(`PROXY UNKNOWN ${'ffff:'.repeat(7)}ffff ${'ffff:'.repeat(7)}ffff 65535 65535\r\n`), versions: ['v1', 'any'], want: { kind: 'local' } },
  { name: 'v2 PROXY TCP over IPv4', header: v2(0x21, 0x11, [192, 0, 2, 7, 127, 0, 0, 1, ...ports(56324, 7000)]), versions: ['v2', 'any'], want: proxied('ipv4', '192.0.2.7', 56324, '127.0.0.1', 7000) },
  { name: 'v2 PROXY TCP over IPv6', header: v2(0x21, 0x21, [0x20, 0x01, 0x0d, 0xb8, ...Array<number>(11).fill(0), 1, ...Array<number>(15).fill(0), 1, ...ports(1, 65535)]), versions: ['v2', 'any'], want: proxied('ipv6', '2001:db8::1', 1, '::1', 65535) },
  { name: 'v2 PROXY TCP over IPv6, IPv4-mapped', header: v2(0x21, 0x21, [...Array<number>(10).fill(0), 0xff, 0xff, 10, 1, 2, 3, ...Array<number>(10).fill(0), 0xff, 0xff, 10, 0, 0, 1, ...ports(5, 6)]), versions: ['v2', 'any'], want: proxied('ipv6', '10.1.2.3', 5, '10.0.0.1', 6) },
  { name: 'v2 PROXY TCP over IPv4 with TLVs (skipped)', header: v2(0x21, 0x11, [10, 0, 0, 9, 10, 0, 0, 1, ...ports(1234, 80), 0x01, 0x00, 0x02, 0x68, 0x32, 0xe0, 0x00, 0x00]), versions: ['v2', 'any'], want: proxied('ipv4', '10.0.0.9', 1234, '10.0.0.1', 80) },
  { name: 'v2 LOCAL, no addresses', header: v2(0x20, 0x00, []), versions: ['v2', 'any'], want: { kind: 'local' } },
  { name: 'v2 LOCAL with addresses (ignored)', header: v2(0x20, 0x11, [1, 2, 3, 4, 5, 6, 7, 8, ...ports(1, 2)]), versions: ['v2', 'any'], want: { kind: 'local' } },
  { name: 'v2 LOCAL with a family byte PROXY would refuse (ignored)', header: v2(0x20, 0xff, []), versions: ['v2', 'any'], want: { kind: 'local' } },
  { name: 'v2 PROXY UNSPEC', header: v2(0x21, 0x00, []), versions: ['v2', 'any'], want: { kind: 'local' } },
  { name: 'v2 PROXY UDP over IPv4 (served as UNSPEC)', header: v2(0x21, 0x12, [1, 2, 3, 4, 5, 6, 7, 8, ...ports(1, 2)]), versions: ['v2', 'any'], want: { kind: 'local' } },
  { name: 'v2 PROXY unix stream (served as UNSPEC)', header: v2(0x21, 0x31, Array<number>(216).fill(0x41)), versions: ['v2', 'any'], want: { kind: 'local' } },
  { name: 'v2 at the cap', header: v2(0x21, 0x11, [1, 2, 3, 4, 5, 6, 7, 8, ...ports(1, 2), ...Array<number>(V2_MAX - 28).fill(0)]), versions: ['v2', 'any'], want: proxied('ipv4', '1.2.3.4', 1, '5.6.7.8', 2) },
];

const CLIENT = Buffer.from([0x00, 0xff, 0x0d, 0x0a, 0x50, 0x52]);

describe('proxy header: valid headers', () => {
  for (const c of VALID) {
    test(`${c.name}: parsed, the client's bytes after it untouched, every prefix incomplete`, () => {
      for (const version of c.versions) {
        const want = { ...c.want, length: c.header.length };
        assert.deepEqual(parseHeader(c.header, version), want, `${version}: the header alone`);
        assert.deepEqual(parseHeader(Buffer.concat([c.header, CLIENT]), version), want, `${version}: followed by the client's bytes`);
        for (let i = 0; i < c.header.length; i++) {
          assert.deepEqual(parseHeader(c.header.subarray(0, i), version), { kind: 'incomplete' }, `${version}: the first ${i} bytes`);
        }
      }
    });
  }
  test('the v2 cap case is exactly the cap long', () => {
    assert.equal(VALID.find((c) => c.name === 'v2 at the cap')?.header.length, V2_MAX);
    assert.equal(VALID.find((c) => c.name.includes('107'))?.header.length, V1_MAX);
    assert.equal(maxHeaderLength('v1'), V1_MAX);
    assert.equal(maxHeaderLength('v2'), V2_MAX);
    assert.equal(maxHeaderLength('any'), V2_MAX);
  });
});

const ANY: ProxyVersion[] = ['v1', 'v2', 'any'];

interface Bad {
  name: string;
  data: Buffer;
  versions: ProxyVersion[];
  /** A word the message must contain. */
  says: RegExp;
}

const BAD: Bad[] = [
  { name: 'an HTTP request', data: v1('GET / HTTP/1.1\r\n\r\n'), versions: ANY, says: /no PROXY header.*GET/ },
  { name: 'one garbage byte', data: Buffer.from([0x00]), versions: ANY, says: /no PROXY header/ },
  { name: 'a TLS ClientHello', data: Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]), versions: ANY, says: /\\x16/ },
  { name: 'lower-case proxy', data: v1('proxy TCP4 1.2.3.4 1.2.3.4 1 2\r\n'), versions: ANY, says: /no PROXY header|PROXY / },
  { name: 'PROXY without its space', data: v1('PROXYTCP4'), versions: ['v1', 'any'], says: /expected 'PROXY '/ },
  { name: 'v1: two spaces', data: v1('PROXY TCP4  1.2.3.4 1.2.3.4 1 2\r\n'), versions: ['v1', 'any'], says: /one space apart/ },
  { name: 'v1: trailing space', data: v1('PROXY TCP4 1.2.3.4 1.2.3.4 1 2 \r\n'), versions: ['v1', 'any'], says: /one space apart/ },
  { name: 'v1: a field missing', data: v1('PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n'), versions: ['v1', 'any'], says: /one space apart/ },
  { name: 'v1: a field too many', data: v1('PROXY TCP4 1.2.3.4 1.2.3.4 1 2 3\r\n'), versions: ['v1', 'any'], says: /one space apart/ },
  { name: 'v1: an unknown protocol', data: v1('PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n'), versions: ['v1', 'any'], says: /TCP4, TCP6 or UNKNOWN/ },
  { name: 'v1: UNKNOWNX', data: v1('PROXY UNKNOWNX\r\n'), versions: ['v1', 'any'], says: /TCP4, TCP6 or UNKNOWN/ },
  { name: 'v1: no protocol', data: v1('PROXY \r\n'), versions: ['v1', 'any'], says: /TCP4, TCP6 or UNKNOWN/ },
  { name: 'v1: lower-case tcp4', data: v1('PROXY tcp4 1.2.3.4 1.2.3.4 1 2\r\n'), versions: ['v1', 'any'], says: /TCP4, TCP6 or UNKNOWN/ },
  { name: 'v1: TCP4 with IPv6 addresses', data: v1('PROXY TCP4 ::1 ::1 1 2\r\n'), versions: ['v1', 'any'], says: /not an IPv4 address/ },
  { name: 'v1: TCP6 with IPv4 addresses', data: v1('PROXY TCP6 1.2.3.4 1.2.3.4 1 2\r\n'), versions: ['v1', 'any'], says: /not an IPv6 address/ },
  { name: 'v1: an octet past 255', data: v1('PROXY TCP4 1.2.3.256 1.2.3.4 1 2\r\n'), versions: ['v1', 'any'], says: /not an IPv4/ },
  { name: 'v1: a leading zero in an address', data: v1('PROXY TCP4 01.2.3.4 1.2.3.4 1 2\r\n'), versions: ['v1', 'any'], says: /not an IPv4/ },
  { name: 'v1: three octets', data: v1('PROXY TCP4 1.2.3 1.2.3.4 1 2\r\n'), versions: ['v1', 'any'], says: /not an IPv4/ },
  { name: 'v1: a host name', data: v1('PROXY TCP4 example.com 1.2.3.4 1 2\r\n'), versions: ['v1', 'any'], says: /not an IPv4/ },
  { name: 'v1: an IPv6 zone', data: v1('PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n'), versions: ['v1', 'any'], says: /not an IPv6/ },
  { name: 'v1: IPv6 with two ::', data: v1('PROXY TCP6 1::2::3 ::1 1 2\r\n'), versions: ['v1', 'any'], says: /not an IPv6/ },
  { name: 'v1: IPv6 of nine groups', data: v1('PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n'), versions: ['v1', 'any'], says: /not an IPv6/ },
  { name: 'v1: port past 65535', data: v1('PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n'), versions: ['v1', 'any'], says: /not a port/ },
  { name: 'v1: port with a leading zero', data: v1('PROXY TCP4 1.2.3.4 1.2.3.4 080 2\r\n'), versions: ['v1', 'any'], says: /not a port/ },
  { name: 'v1: port with a sign', data: v1('PROXY TCP4 1.2.3.4 1.2.3.4 +80 2\r\n'), versions: ['v1', 'any'], says: /not a port/ },
  { name: 'v1: port in hex', data: v1('PROXY TCP4 1.2.3.4 1.2.3.4 0x50 2\r\n'), versions: ['v1', 'any'], says: /not a port/ },
  { name: 'v1: port of six digits', data: v1('PROXY TCP4 1.2.3.4 1.2.3.4 1 100000\r\n'), versions: ['v1', 'any'], says: /not a port/ },
  { name: 'v1: negative port', data: v1('PROXY TCP4 1.2.3.4 1.2.3.4 -1 2\r\n'), versions: ['v1', 'any'], says: /not a port/ },
  { name: 'v1: ended by LF alone', data: v1('PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n'), versions: ['v1', 'any'], says: /LF alone/ },
  { name: 'v1: CR then not LF', data: v1('PROXY TCP4 1.2.3.4 1.2.3.4 1 2\rX'), versions: ['v1', 'any'], says: /CR not followed by LF/ },
  { name: 'v1: a NUL inside', data: v1('PROXY TCP4 1.2.3.4\x00'), versions: ['v1', 'any'], says: /not printable/ },
  { name: 'v1: a tab for a space', data: v1('PROXY TCP4\t1.2.3.4'), versions: ['v1', 'any'], says: /not printable/ },
  { name: 'v1: a byte past ASCII', data: v1('PROXY TCP4 1.2.3.4\xe9'), versions: ['v1', 'any'], says: /not printable/ },
  { name: 'v1: 107 bytes and no CRLF', data: v1(`PROXY UNKNOWN ${'x'.repeat(93)}`), versions: ['v1', 'any'], says: /longer than 107/ },
  { name: 'v1: CRLF one byte too late (108 bytes)', data: v1(`PROXY UNKNOWN ${'x'.repeat(92)}\r\n`), versions: ['v1', 'any'], says: /longer than 107/ },
  { name: 'v1 where v2 is asked', data: v1('PROXY TCP4 1.2.3.4 1.2.3.4 1 2\r\n'), versions: ['v2'], says: /proxy_protocol = v2 takes version 2 only/ },
  { name: 'v1, its first byte only, where v2 is asked', data: v1('P'), versions: ['v2'], says: /version 1/ },
  { name: 'v2 where v1 is asked', data: v2(0x21, 0x11, [1, 2, 3, 4, 5, 6, 7, 8, ...ports(1, 2)]), versions: ['v1'], says: /proxy_protocol = v1 takes version 1 only/ },
  { name: 'v2: a signature byte wrong', data: Buffer.concat([SIG.subarray(0, 7), Buffer.from('quit\n'), Buffer.from([0x21, 0x11, 0, 0])]), versions: ['v2', 'any'], says: /signature/ },
  { name: 'v2: the signature cut by CRLF CRLF then data', data: v1('\r\n\r\nhello'), versions: ['v2', 'any'], says: /signature/ },
  { name: 'v2: version 1 in byte 13', data: v2(0x11, 0x11, []), versions: ['v2', 'any'], says: /version 1 in byte 13/ },
  { name: 'v2: version 3 in byte 13', data: v2(0x31, 0x11, []), versions: ['v2', 'any'], says: /version 3/ },
  { name: 'v2: command 2', data: v2(0x22, 0x11, []), versions: ['v2', 'any'], says: /command 2/ },
  { name: 'v2: command 15', data: v2(0x2f, 0x11, []), versions: ['v2', 'any'], says: /command 15/ },
  { name: 'v2: family 4', data: v2(0x21, 0x41, Array<number>(12).fill(0)), versions: ['v2', 'any'], says: /0x41/ },
  { name: 'v2: transport 3', data: v2(0x21, 0x13, Array<number>(12).fill(0)), versions: ['v2', 'any'], says: /0x13/ },
  { name: 'v2: TCP4 with too short an address block', data: v2(0x21, 0x11, [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0]), versions: ['v2', 'any'], says: /fewer than the 12/ },
  { name: 'v2: TCP6 with an IPv4-sized block', data: v2(0x21, 0x21, [1, 2, 3, 4, 5, 6, 7, 8, ...ports(1, 2)]), versions: ['v2', 'any'], says: /fewer than the 36/ },
  { name: 'v2: one byte past the cap', data: v2(0x21, 0x11, Array<number>(V2_MAX - 16 + 1).fill(0)), versions: ['v2', 'any'], says: /more than the 1024/ },
  { name: 'v2: a length of 65535 (its head only)', data: Buffer.concat([SIG, Buffer.from([0x21, 0x11, 0xff, 0xff])]), versions: ['v2', 'any'], says: /65551 bytes/ },
];

describe('proxy header: malformed headers', () => {
  for (const c of BAD) {
    test(`${c.name}: an error saying why, as early as the bytes show it`, () => {
      for (const version of c.versions) {
        const got = parseHeader(c.data, version);
        assert.equal(got.kind, 'error', `${version}: ${JSON.stringify(got)}`);
        if (got.kind === 'error') assert.match(got.message, c.says, version);
        // Once an error, always an error: more bytes never turn it into a header.
        assert.equal(parseHeader(Buffer.concat([c.data, v1('PROXY TCP4 1.2.3.4 1.2.3.4 1 2\r\n')]), version).kind, 'error', `${version}: with more after it`);
        // And no prefix is ever taken as a header.
        for (let i = 0; i < c.data.length; i++) {
          const kind = parseHeader(c.data.subarray(0, i), version).kind;
          assert.ok(kind === 'incomplete' || kind === 'error', `${version}: the first ${i} bytes gave ${kind}`);
        }
      }
    });
  }

  test('garbage is refused at its first byte, not after a wait', () => {
    for (const version of ANY) {
      for (let b = 0; b < 256; b++) {
        if (b === 0x50 || b === 0x0d) continue;
        assert.equal(parseHeader(Buffer.from([b]), version).kind, 'error', `${version}: byte 0x${b.toString(16)}`);
      }
    }
  });

  test('random bytes after each valid prefix never throw', () => {
    let seed = 27;
    const random = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    for (const c of VALID) {
      for (let cut = 0; cut < c.header.length; cut += 3) {
        for (let k = 0; k < 8; k++) {
          const tail = Buffer.from(Array.from({ length: 1 + (random() % 40) }, random));
          const data = Buffer.concat([c.header.subarray(0, cut), tail]);
          for (const version of ANY) {
            const got = parseHeader(data, version);
            assert.ok(['incomplete', 'error', 'local', 'proxied'].includes(got.kind));
            if (got.kind === 'local' || got.kind === 'proxied') assert.ok(got.length <= data.length && got.length <= maxHeaderLength(version));
          }
        }
      }
    }
  });
});
