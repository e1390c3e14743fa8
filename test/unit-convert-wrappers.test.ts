// hosts.allow and hosts.deny as `superd convert` reads them (wrappers/)
// and the address sets it computes with (addrset.ts), without sockets. The
// verdicts are checked against tcpd's own: Debian's tcpdmatch(8), given
// the same tables, says whether each probe address is granted; a converted
// service must let in no address tcpdmatch denies, and where superd can
// evaluate every rule, exactly the addresses it grants.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AddrSet } from '../src/convert/addrset.js';
import { newDraft, setKey, type Draft } from '../src/convert/types.js';
import { applyWrappers } from '../src/convert/wrappers/apply.js';
import { parseHostsTable, type HostsAccess } from '../src/convert/wrappers/tables.js';
import { wrapVerdict } from '../src/convert/wrappers/verdict.js';
import { accessRules } from '../src/policy/access.js';
import { tempDir } from './helpers/daemon.js';

function tables(allow: string, deny: string): HostsAccess {
  return {
    allowFile: 'hosts.allow',
    denyFile: 'hosts.deny',
    rules: [...parseHostsTable('hosts.allow', allow, 'allow'), ...parseHostsTable('hosts.deny', deny, 'deny')],
  };
}

const set = (...blocks: string[]): AddrSet => AddrSet.union(blocks.map((b) => AddrSet.parse(b) ?? assert.fail(`bad block ${b}`)));

describe('AddrSet: exact sets of addresses, IPv4 inside IPv6 as ::ffff:0:0/96', () => {
  test('parse, membership, and the IPv4 / v4-mapped identity', () => {
    const ten = set('10.0.0.0/8');
    assert.ok(ten.has('10.255.0.1'));
    assert.ok(ten.has('::ffff:10.1.2.3'), 'a v4-mapped client is the IPv4 address');
    assert.ok(!ten.has('11.0.0.0'));
    assert.ok(!ten.has('2001:db8::1'));
    assert.equal(AddrSet.parse('10.0.0.0/33'), null);
    assert.equal(AddrSet.parse('10.0.0'), null);
    assert.equal(AddrSet.parse('example.com'), null);
    assert.deepEqual(set('::ffff:10.0.0.0/104').blocks(), ['10.0.0.0/8']);
    assert.deepEqual(AddrSet.ipv4.blocks(), ['0.0.0.0/0']);
    assert.deepEqual(AddrSet.all.blocks(), ['::/0']);
  });

  test('union, intersection and difference are exact, and blocks() is the fewest CIDR blocks', () => {
    assert.deepEqual(set('10.0.0.0/9', '10.128.0.0/9').blocks(), ['10.0.0.0/8']);
    assert.deepEqual(set('10.0.0.0/8').intersect(set('10.1.0.0/16', '11.0.0.0/8')).blocks(), ['10.1.0.0/16']);
    const holed = AddrSet.ipv4.minus(set('10.1.2.3'));
    assert.equal(holed.blocks().length, 32, 'IPv4 less one address is 32 blocks');
    assert.ok(!holed.has('10.1.2.3') && holed.has('10.1.2.2') && holed.has('10.1.2.4'));
    assert.ok(holed.union(set('10.1.2.3')).equals(AddrSet.ipv4));
    assert.deepEqual(set('2001:db8::/32').minus(set('2001:db8:8000::/33')).blocks(), ['2001:db8::/33']);
    assert.deepEqual(set('2001:db8:0:0:1::/80').blocks(), ['2001:db8:0:0:1::/80'], 'the longest run of zeros is the one shortened');
    assert.deepEqual(set('2001:db8:0:0:1:0:0:1').blocks(), ['2001:db8::1:0:0:1'], 'the first of two equal runs');
    assert.deepEqual(set('::1').blocks(), ['::1']);
    assert.ok(AddrSet.all.minus(AddrSet.all).isEmpty());
    assert.ok(AddrSet.none.complement().isAll());
  });
});

describe('hosts.allow / hosts.deny as tcpd reads them', () => {
  test("a '#' in the first column is a comment, a backslash continues a line, ':' inside [ ] is not a separator", () => {
    const rules = parseHostsTable('hosts.allow', '# comment\nin.tftpd, in.ftpd : 10.0.0.0/8 \\\n  [2001:db8::]/32\n\nnocolon\nsshd: ALL: spawn /bin/true : deny\n', 'allow');
    assert.equal(rules.length, 2, 'the line without a colon is skipped, as tcpd skips it');
    assert.deepEqual(rules[0]?.daemons, ['in.tftpd', 'in.ftpd']);
    assert.deepEqual(rules[0]?.clients, ['10.0.0.0/8', '[2001:db8::]/32']);
    assert.equal(rules[0]?.where, 'hosts.allow:2');
    assert.equal(rules[1]?.verdict, 'deny', "the option 'deny' turns a hosts.allow rule into a refusal");
  });

  test('first match wins, hosts.allow before hosts.deny; no match lets in', () => {
    const h = tables('in.tftpd: 10.0.0.0/255.0.0.0\nsshd: ALL EXCEPT 192.168.1.5 10.9.\n', 'ALL: ALL\n');
    assert.deepEqual(wrapVerdict(h, 'in.tftpd').allowed.blocks(), ['10.0.0.0/8']);
    const sshd = wrapVerdict(h, 'sshd').allowed;
    assert.ok(!sshd.has('192.168.1.5') && !sshd.has('10.9.3.4') && sshd.has('10.8.3.4') && sshd.has('2001:db8::1'));
    assert.ok(wrapVerdict(h, 'in.fingerd').allowed.isEmpty(), 'hosts.deny ALL: ALL refuses everyone else');
    assert.ok(wrapVerdict(tables('', ''), 'in.fingerd').allowed.isAll());
    assert.equal(wrapVerdict(tables('', ''), 'in.fingerd').rules.length, 0);
  });

  test('names, ident users and netgroups only narrow: superd lets in only whom tcpd certainly let in', () => {
    const h = tables('in.ftpd: .example.com 10.1.2.3 joe@10.2.0.0/16 @trusted\n', 'ALL: ALL\n');
    const v = wrapVerdict(h, 'in.ftpd');
    assert.deepEqual(v.allowed.blocks(), ['10.1.2.3']);
    assert.equal(v.narrowed.length, 3, v.narrowed.join('\n'));
    assert.match(v.narrowed.join('\n'), /'\.example\.com' is a host or domain name/);
    assert.match(v.narrowed.join('\n'), /'joe@10\.2\.0\.0\/16' names the client's user/);
    // A name in a refusal narrows too: nobody it could name is let in.
    const deny = wrapVerdict(tables('', 'in.ftpd: badhost.example.com\n'), 'in.ftpd');
    assert.ok(deny.allowed.isEmpty(), 'an unknown name in hosts.deny could be anyone');
  });

  test('options: twist and an unknown option refuse, allow and deny decide, spawn leaves the verdict', () => {
    const h = tables('a: ALL: twist /bin/echo no\nb: ALL: (echo hi) &\nc: ALL: spawn /bin/true\n', 'd: 10.0.0.0/8: allow\nALL: ALL\n');
    assert.ok(wrapVerdict(h, 'a').allowed.isEmpty());
    assert.ok(wrapVerdict(h, 'b').allowed.isEmpty());
    assert.ok(wrapVerdict(h, 'c').allowed.isAll());
    assert.deepEqual(wrapVerdict(h, 'd').allowed.blocks(), ['10.0.0.0/8']);
    assert.match(wrapVerdict(h, 'a').notes.join('\n'), /twist/);
  });
});

// ---------------------------------------------------------------------------
// tcpd's own verdicts.

const TCPDMATCH = ['/usr/sbin/tcpdmatch', '/usr/bin/tcpdmatch'].find((p) => existsSync(p));

function tcpdmatch(dir: string, daemon: string, client: string): Promise<'granted' | 'denied' | 'delegated'> {
  return new Promise((resolve, reject) => {
    execFile(TCPDMATCH as string, ['-d', daemon, client], { cwd: dir, timeout: 10000 }, (err, stdout) => {
      const m = /^access:\s+(granted|denied|delegated)/m.exec(stdout);
      if (m === null) reject(new Error(`tcpdmatch ${daemon} ${client}: no verdict (${String(err)}): ${stdout}`));
      else resolve(m[1] as 'granted' | 'denied' | 'delegated');
    });
  });
}

/** Addresses on both sides of every block edge the tables mention, and some elsewhere. */
function probes(text: string): string[] {
  const out = new Set(['1.2.3.4', '10.0.0.1', '127.0.0.1', '192.168.1.1', '255.255.255.255', '0.0.0.0', '::1', '2001:db8::1', '2001:db9::1', 'fe80::1', '::ffff:10.1.2.3', '::ffff:1.2.3.4']);
  for (const m of text.matchAll(/(\d+)\.(\d+)\.(\d+)\.(\d+)/g)) {
    const v = ((Number(m[1]) * 256 + Number(m[2])) * 256 + Number(m[3])) * 256 + Number(m[4]);
    for (const d of [-1, 0, 1, 255, 256, 65535, 65536]) {
      const x = v + d;
      if (x >= 0 && x <= 0xffffffff) out.add([24, 16, 8, 0].map((s) => String(Math.floor(x / 2 ** s) % 256)).join('.'));
    }
  }
  return [...out];
}

const CASES: { allow: string; deny: string; daemons: string[] }[] = [
  { allow: 'in.tftpd: 10.0.0.0/255.0.0.0\n', deny: 'ALL: ALL\n', daemons: ['in.tftpd', 'sshd'] },
  { allow: 'sshd: ALL EXCEPT 192.168.1.5 10.9.\nin.: 172.16.0.0/12\n', deny: 'ALL EXCEPT in.fingerd: 10.\n', daemons: ['sshd', 'in.tftpd', 'in.fingerd', 'rsync'] },
  { allow: 'ALL EXCEPT in.fingerd: [2001:db8::]/32 127.0.0.1\nrsync: 10.0.0.0/8 EXCEPT 10.1.0.0/16 EXCEPT 10.1.2.3\n', deny: 'rsync: ALL\n', daemons: ['rsync', 'in.fingerd', 'other'] },
  { allow: 'a: ALL: twist /bin/echo no\nb: 10.0.0.0/8: spawn /bin/true : deny\nc, d: 192.168.0.0/16: allow\n', deny: 'b: 10.1.0.0/16: allow\nALL: 0.0.0.0/0\n', daemons: ['a', 'b', 'c', 'd', 'e'] },
  { allow: 'ALL: 10.0.0.0/8\n', deny: 'in.*: ALL\nsmtp ntp: 127.0.0.0/8 [::1]\n', daemons: ['in.ftpd', 'smtp', 'ntp', 'x'] },
];

describe("the verdicts agree with tcpd's own (tcpdmatch)", { timeout: 120000 }, () => {
  test('every probe address: let in only if tcpdmatch grants it, and exactly then where every rule is readable', { skip: TCPDMATCH === undefined ? 'tcpdmatch (Debian package tcpd) is not installed' : false }, async () => {
    const base = await tempDir('superd-wrappers-');
    let compared = 0;
    for (const [i, c] of CASES.entries()) {
      const dir = join(base, String(i));
      await mkdir(dir);
      await writeFile(join(dir, 'hosts.allow'), c.allow);
      await writeFile(join(dir, 'hosts.deny'), c.deny);
      const h = tables(c.allow, c.deny);
      for (const daemon of c.daemons) {
        const v = wrapVerdict(h, daemon);
        for (const address of probes(c.allow + c.deny)) {
          const tcpd = await tcpdmatch(dir, daemon, address);
          const ours = v.allowed.has(address);
          if (ours) assert.equal(tcpd, 'granted', `case ${i}, ${daemon} from ${address}: superd would let in whom tcpd did not`);
          if (v.narrowed.length === 0) assert.equal(ours, tcpd === 'granted', `case ${i}, ${daemon} from ${address}: tcpd ${tcpd}, superd ${ours ? 'lets in' : 'refuses'}`);
          compared++;
        }
      }
    }
    assert.ok(compared > 300, `compared ${compared} verdicts`);
  });
});

// ---------------------------------------------------------------------------
// The verdict applied to a converted service.

function draft(keys: Record<string, string>, wrappedAs = ['in.tftpd']): Draft {
  const d = newDraft('/etc/xinetd.d/tftp', 1, 'service tftp', 'tftp', []);
  for (const [k, v] of Object.entries(keys)) setKey(d, k, v);
  d.wrappedAs = wrappedAs;
  return d;
}

const key = (d: Draft, name: string): string | undefined => d.keys.find((k) => k.key === name)?.value;

/** Whether superd would let `address` in to the converted draft (its own access check). */
function superdLetsIn(d: Draft, address: string): boolean {
  const only = key(d, 'only_from');
  const no = key(d, 'no_access');
  const rules = accessRules(only === undefined ? null : only.split(' '), no === undefined ? [] : no.split(' '));
  return d.disabled.length === 0 && (rules === null || rules.check(address) === null);
}

describe('applied to a service: only_from and no_access let in exactly what both allowed', () => {
  const h = tables('in.tftpd: 10.0.0.0/255.0.0.0 [2001:db8::]/32\nsshd: ALL EXCEPT 192.168.1.5\n', 'ALL: ALL\n');

  test("the service's own only_from is narrowed to what the wrappers let in", () => {
    const d = draft({ protocol: 'udp', port: 'tftp', only_from: '10.1.0.0/16 192.168.0.0/16', no_access: '10.1.2.3' });
    applyWrappers(d, h);
    assert.equal(key(d, 'only_from'), '10.1.0.0/16');
    assert.equal(key(d, 'no_access'), '10.1.2.3');
    assert.deepEqual(d.disabled, []);
    for (const a of ['10.1.9.9', '10.1.2.3', '10.2.0.1', '192.168.1.1', '2001:db8::1']) {
      const before = set('10.1.0.0/16', '192.168.0.0/16').minus(set('10.1.2.3')).has(a);
      assert.equal(superdLetsIn(d, a), before && wrapVerdict(h, 'in.tftpd').allowed.has(a), a);
    }
  });

  test('a refusal of a few is written as no_access, not as a long only_from', () => {
    const d = draft({ protocol: 'tcp', port: 'ssh', wait: 'no' }, ['sshd']);
    applyWrappers(d, h);
    assert.equal(key(d, 'only_from'), undefined);
    assert.equal(key(d, 'no_access'), '192.168.1.5');
  });

  test('nobody let in, or a tcp wait program: disabled with the reason', () => {
    const nobody = draft({ protocol: 'tcp', port: 'finger', wait: 'no' }, ['in.fingerd']);
    applyWrappers(nobody, h);
    assert.match(nobody.disabled.join('\n'), /hosts\.allow\/hosts\.deny for in\.fingerd \(hosts\.deny:1\) let nobody in/);
    const disjoint = draft({ protocol: 'udp', port: 'tftp', only_from: '192.168.0.0/16' });
    applyWrappers(disjoint, h);
    assert.match(disjoint.disabled.join('\n'), /let nobody in/);
    const waitTcp = draft({ protocol: 'tcp', port: 'tftp', wait: 'yes' });
    applyWrappers(waitTcp, h);
    assert.match(waitTcp.disabled.join('\n'), /cannot be applied to a tcp wait service/);
  });

  test('no rule for the daemon: nothing changes, not even a comment', () => {
    const d = draft({ protocol: 'tcp', port: 'x', wait: 'no' }, ['rsync']);
    applyWrappers(d, tables('in.tftpd: 10.0.0.0/8\n', ''));
    assert.equal(key(d, 'only_from'), undefined);
    assert.deepEqual(d.notes, []);
    assert.deepEqual(d.disabled, []);
  });
});
