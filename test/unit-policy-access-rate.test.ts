// The pure access and rate policy (SPEC §2 only_from, no_access,
// max_per_source, rate, rate_per_source; §6 refusal reasons), without sockets.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseAddressList } from '../src/config/values.js';
import { accessRules, type AccessRules } from '../src/policy/access.js';
import type { Clock } from '../src/policy/clock.js';
import { LruMap } from '../src/policy/lru.js';
import { SourceCounts } from '../src/policy/persource.js';
import { RateLimit, SourceRateLimits } from '../src/policy/rate.js';
import { RefusalLog } from '../src/policy/refusals.js';
import { sourceKey } from '../src/policy/source.js';
import { ServicePolicy, type PolicyLimits } from '../src/policy/verdict.js';

class FakeClock implements Clock {
  t = 1_000_000;
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

/** The lists as config validation hands them over. */
function list(v: string): string[] {
  const parsed = parseAddressList('only_from', v);
  assert.ok(parsed.ok, `parseAddressList rejected ${v}`);
  return parsed.value;
}

function rules(onlyFrom: string | null, noAccess = ''): AccessRules {
  const r = accessRules(onlyFrom === null ? null : list(onlyFrom), noAccess === '' ? [] : list(noAccess));
  assert.ok(r !== null);
  return r;
}

/** The i-th address of 10.(i>>16).x.y, a /16 per 65536. */
const v4 = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
/** An address in the i-th /64 of 2001:db8::/32, with a host part that varies too. */
const v6 = (i: number): string => `2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::${(i % 7) + 1}`;

describe('sourceKey', () => {
  test('IPv4 is its own source, mapped or not', () => {
    assert.equal(sourceKey('192.0.2.1'), '192.0.2.1');
    assert.equal(sourceKey('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(sourceKey('::FFFF:192.0.2.1'), '192.0.2.1');
    assert.equal(sourceKey('::ffff:c000:201'), '192.0.2.1');
    assert.equal(sourceKey('0:0:0:0:0:ffff:c000:0201'), '192.0.2.1');
    // Not mapped: ::ffff:abc is ::0:ffff:abc, an IPv6 address in ::/64.
    assert.equal(sourceKey('::ffff:abc'), '::/64');
  });
  test('IPv6 counts by its /64, written in RFC 5952 form', () => {
    assert.equal(sourceKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
    assert.equal(sourceKey('2001:0DB8:0001:0002::1'), '2001:db8:1:2::/64');
    assert.equal(sourceKey('2001:db8:1:2::'), '2001:db8:1:2::/64');
    assert.equal(sourceKey('2001:db8::1'), '2001:db8::/64');
    assert.equal(sourceKey('2001:db8:0:0:ffff::1'), '2001:db8::/64');
    assert.equal(sourceKey('2001:0:0:1::5'), '2001:0:0:1::/64');
    assert.equal(sourceKey('2001::1:0:0:5'), '2001::/64');
    assert.equal(sourceKey('2001::1:0:0:0:5'), '2001:0:0:1::/64');
    assert.equal(sourceKey('0:0:0:1::'), '0:0:0:1::/64');
    assert.equal(sourceKey('::1'), '::/64');
    assert.equal(sourceKey('::'), '::/64');
    assert.equal(sourceKey('64:ff9b::192.0.2.1'), '64:ff9b::/64');
  });
  test('two hosts of one /64 are one source; neighbouring /64s are two', () => {
    assert.equal(sourceKey('2001:db8:a:b::1'), sourceKey('2001:db8:a:b:ffff:ffff:ffff:ffff'));
    assert.notEqual(sourceKey('2001:db8:a:b::1'), sourceKey('2001:db8:a:c::1'));
  });
  test('a zone is kept, unix and garbage count as written', () => {
    assert.equal(sourceKey('fe80::1%eth0'), 'fe80::/64%eth0');
    assert.equal(sourceKey(''), '');
    assert.equal(sourceKey('not:an:address'), 'not:an:address');
    assert.equal(sourceKey('1:2:3:4:5:6:7:8:9'), '1:2:3:4:5:6:7:8:9');
    assert.equal(sourceKey('1::2::3'), '1::2::3');
    assert.equal(sourceKey('1:2:3:4:5:6:7'), '1:2:3:4:5:6:7');
    assert.equal(sourceKey(':1:2:3:4:5:6:7'), ':1:2:3:4:5:6:7');
    assert.equal(sourceKey('12345::1'), '12345::1');
    assert.equal(sourceKey('::1.2.3'), '::1.2.3');
    assert.equal(sourceKey('::1.2.3.256'), '::1.2.3.256');
    assert.equal(sourceKey('1.2.3.4::'), '1.2.3.4::');
  });
});

describe('accessRules: only_from and no_access', () => {
  test('no rules at all is the fast path: null', () => {
    assert.equal(accessRules(null, []), null);
  });
  test('IPv4 addresses and CIDR blocks', () => {
    const r = rules('10.0.0.0/8, 192.168.1.5');
    assert.equal(r.check('10.1.2.3'), null);
    assert.equal(r.check('11.0.0.1'), 'only_from');
    assert.equal(r.check('192.168.1.5'), null);
    assert.equal(r.check('192.168.1.6'), 'only_from');
  });
  test('an IPv4 client on a dual-stack socket (::ffff:) matches IPv4 rules', () => {
    const r = rules('10.0.0.0/8');
    assert.equal(r.check('::ffff:10.9.9.9'), null);
    assert.equal(r.check('::ffff:11.0.0.1'), 'only_from');
  });
  test('IPv6 blocks and ::1/128', () => {
    const r = rules('2001:db8::/32 ::1/128');
    assert.equal(r.check('2001:db8:ffff::1'), null);
    assert.equal(r.check('2001:db9::1'), 'only_from');
    assert.equal(r.check('::1'), null);
    assert.equal(r.check('::2'), 'only_from');
    assert.equal(r.check('127.0.0.1'), 'only_from');
    assert.equal(r.check('::ffff:127.0.0.1'), 'only_from');
  });
  test('exact addresses, not widened to /64 like the per-source limits', () => {
    const r = rules('2001:db8:1:2::1');
    assert.equal(r.check('2001:db8:1:2::1'), null);
    assert.equal(r.check('2001:db8:1:2::2'), 'only_from');
  });
  test('no_access wins over only_from', () => {
    const r = rules('10.0.0.0/8', '10.0.0.66');
    assert.equal(r.check('10.0.0.66'), 'no_access');
    assert.equal(r.check('::ffff:10.0.0.66'), 'no_access');
    assert.equal(r.check('10.0.0.65'), null);
    assert.equal(r.check('12.0.0.1'), 'only_from');
  });
  test('no_access alone lets everyone else in', () => {
    const r = rules(null, '::1, 192.0.2.0/24');
    assert.equal(r.check('::1'), 'no_access');
    assert.equal(r.check('192.0.2.77'), 'no_access');
    assert.equal(r.check('127.0.0.1'), null);
    assert.equal(r.check('2001:db8::1'), null);
  });
  test('/0 blocks: everyone of that family', () => {
    const r = rules('0.0.0.0/0');
    assert.equal(r.check('203.0.113.9'), null);
    assert.equal(r.check('::ffff:203.0.113.9'), null);
    assert.equal(r.check('::1'), 'only_from');
  });
  test("'' (unix) matches no rule: only_from refuses it, no_access does not", () => {
    assert.equal(rules('127.0.0.1').check(''), 'only_from');
    assert.equal(rules(null, '127.0.0.1').check(''), null);
  });
  test('an empty only_from would mean nobody, and validation does not let one through', () => {
    assert.equal(parseAddressList('only_from', ' , ').ok, false);
    const r = accessRules([], []);
    assert.ok(r !== null);
    assert.equal(r.check('127.0.0.1'), 'only_from');
  });
});

describe('RateLimit: a token bucket', () => {
  test('a burst of `rate` passes, then one per 60/rate s, then a full burst after a minute', () => {
    const clock = new FakeClock();
    const rate = new RateLimit(60, clock);
    for (let i = 0; i < 60; i++) assert.equal(rate.take(), true, `burst ${i}`);
    assert.equal(rate.take(), false);
    clock.advance(999);
    assert.equal(rate.take(), false);
    clock.advance(1);
    assert.equal(rate.take(), true);
    assert.equal(rate.take(), false);
    clock.advance(60_000);
    for (let i = 0; i < 60; i++) assert.equal(rate.take(), true, `second burst ${i}`);
    assert.equal(rate.take(), false);
  });
  test('a rate that does not divide a minute refills exactly on time', () => {
    const clock = new FakeClock();
    const rate = new RateLimit(7, clock);
    for (let i = 0; i < 7; i++) assert.equal(rate.take(), true);
    assert.equal(rate.take(), false);
    clock.advance(Math.ceil(60_000 / 7) - 1);
    assert.equal(rate.take(), false);
    clock.advance(1);
    assert.equal(rate.take(), true);
  });
  test('available() takes nothing, and a refused take costs nothing', () => {
    const clock = new FakeClock();
    const rate = new RateLimit(1, clock);
    assert.equal(rate.available(), true);
    assert.equal(rate.available(), true);
    assert.equal(rate.take(), true);
    for (let i = 0; i < 100; i++) assert.equal(rate.take(), false);
    clock.advance(60_000);
    assert.equal(rate.take(), true);
  });
  test('a clock that steps back neither drains nor refills', () => {
    const clock = new FakeClock();
    const rate = new RateLimit(2, clock);
    assert.equal(rate.take(), true);
    clock.advance(-10_000);
    assert.equal(rate.take(), true);
    assert.equal(rate.take(), false);
  });
});

describe('SourceRateLimits: a bucket per source, bounded', () => {
  test('each source has its own bucket', () => {
    const clock = new FakeClock();
    const limits = new SourceRateLimits(2, clock);
    assert.equal(limits.take('a'), true);
    assert.equal(limits.take('a'), true);
    assert.equal(limits.take('a'), false);
    assert.equal(limits.take('b'), true);
    assert.equal(limits.available('a'), false);
    assert.equal(limits.available('c'), true);
    assert.equal(limits.size, 2);
    clock.advance(30_000);
    assert.equal(limits.take('a'), true);
    assert.equal(limits.take('a'), false);
  });
  test('an entry whose bucket has refilled is dropped as traffic goes on', () => {
    const clock = new FakeClock();
    const limits = new SourceRateLimits(60, clock);
    for (let i = 0; i < 1000; i++) limits.take(v4(i));
    assert.equal(limits.size, 1000);
    clock.advance(60_000);
    // Each take looks at a couple of the oldest entries: the old ones go
    // faster than new ones come.
    for (let i = 0; i < 1000; i++) limits.take('192.0.2.1');
    assert.equal(limits.size, 1);
  });
  // How fast a take is belongs to `npm run bench`, not to a timed assertion here.
  test('200,000 distinct sources (a /16 of IPv4, many IPv6 /64s): each is let in, and size never passes the cap', () => {
    const clock = new FakeClock();
    const cap = 10_000;
    const limits = new SourceRateLimits(10, clock, cap);
    let maxSize = 0;
    for (let i = 0; i < 200_000; i++) {
      const address = i % 2 === 0 ? v4(i >> 1) : v6(i >> 1);
      assert.equal(limits.take(sourceKey(address)), true);
      if (limits.size > maxSize) maxSize = limits.size;
      if (i % 16 === 0) clock.advance(1);
    }
    assert.equal(maxSize, cap);
  });
  test('a source that keeps knocking keeps its empty bucket under a flood from others; an evicted one starts full', () => {
    const clock = new FakeClock();
    const limits = new SourceRateLimits(1, clock, 100);
    assert.equal(limits.take('attacker'), true);
    for (let i = 0; i < 10_000; i++) {
      limits.take(v4(i));
      if (i % 50 === 0) assert.equal(limits.take('attacker'), false);
    }
    assert.equal(limits.size, 100);
    // Quiet while 100 others come: evicted, so its next one is served.
    for (let i = 0; i < 100; i++) limits.take(`other${i}`);
    assert.equal(limits.take('attacker'), true);
  });
});

describe('LruMap', () => {
  test('oldest first; set makes an entry the newest, get does not', () => {
    const lru = new LruMap<number>();
    assert.equal(lru.oldest(), undefined);
    lru.set('a', 1);
    lru.set('b', 2);
    lru.set('c', 3);
    assert.equal(lru.oldest()?.key, 'a');
    assert.equal(lru.get('a'), 1);
    assert.equal(lru.oldest()?.key, 'a');
    lru.set('a', 10);
    assert.equal(lru.oldest()?.key, 'b');
    lru.set('a', 11);
    assert.equal(lru.delete('b'), true);
    assert.equal(lru.delete('b'), false);
    assert.deepEqual([lru.oldest()?.key, lru.oldest()?.value], ['c', 3]);
    lru.delete('c');
    assert.deepEqual([lru.oldest()?.key, lru.oldest()?.value], ['a', 11]);
    lru.delete('a');
    assert.equal(lru.oldest(), undefined);
    assert.equal(lru.size, 0);
    lru.set('d', 4);
    assert.equal(lru.oldest()?.key, 'd');
  });
});

describe('SourceCounts', () => {
  test('counts per source, deleting entries at zero', () => {
    const counts = new SourceCounts();
    counts.add('a');
    counts.add('a');
    counts.add('b');
    assert.equal(counts.count('a'), 2);
    assert.equal(counts.size, 2);
    counts.remove('a');
    counts.remove('b');
    assert.equal(counts.count('a'), 1);
    assert.equal(counts.count('b'), 0);
    assert.equal(counts.size, 1);
    counts.remove('a');
    counts.remove('a');
    assert.equal(counts.count('a'), 0);
    assert.equal(counts.size, 0);
  });
});

describe('RefusalLog: a flood is not a log flood', () => {
  test('10,000 refusals from 3 sources: <= 9 lines, summaries at most one per interval per reason, counts exact', () => {
    const clock = new FakeClock();
    const log = new RefusalLog(clock);
    const sources = ['192.0.2.1', '192.0.2.2', '2001:db8::/64'];
    let lines = 0;
    let suppressed = 0;
    const summaryTimes: number[] = [];
    for (let i = 0; i < 10_000; i++) {
      if (log.record('rate_per_source', sources[i % 3])) lines++;
      for (const s of log.due()) {
        assert.equal(s.reason, 'rate_per_source');
        assert.equal(s.sources, 3);
        suppressed += s.suppressed;
        summaryTimes.push(clock.now());
      }
      clock.advance(3);
    }
    clock.advance(5_000);
    for (const s of log.due()) suppressed += s.suppressed;
    assert.equal(log.due().length, 0);
    assert.equal(log.nextDue(), null);
    assert.equal(lines, 9);
    assert.equal(lines + suppressed, 10_000);
    for (let i = 1; i < summaryTimes.length; i++) assert.ok(summaryTimes[i] - summaryTimes[i - 1] >= 5_000);
    // 30 s of flood: one summary every 5 s at most.
    assert.ok(summaryTimes.length >= 5 && summaryTimes.length <= 6, `${summaryTimes.length} summaries`);
  });
  test('reasons are summarized apart, and nothing is due before the interval', () => {
    const clock = new FakeClock();
    const log = new RefusalLog(clock, { firstPerSource: 1, summaryEveryMs: 1000 });
    assert.equal(log.record('rate', 'a'), true);
    assert.equal(log.record('rate', 'a'), false);
    assert.equal(log.record('queue_full', 'a'), true);
    assert.equal(log.record('queue_full', 'a'), false);
    assert.equal(log.record('queue_full', 'b'), true);
    assert.equal(log.record('queue_full', 'b'), false);
    assert.deepEqual(log.due(), []);
    assert.equal(log.nextDue(), clock.now() + 1000);
    clock.advance(1000);
    const due = log.due().sort((x, y) => x.reason.localeCompare(y.reason));
    assert.deepEqual(due, [
      { reason: 'queue_full', suppressed: 2, sources: 2 },
      { reason: 'rate', suppressed: 1, sources: 1 },
    ]);
    assert.deepEqual(log.due(), []);
  });
  test("a source's allowance comes back after its window", () => {
    const clock = new FakeClock();
    const log = new RefusalLog(clock, { firstPerSource: 2, windowMs: 10_000 });
    assert.equal(log.record('rate', 'a'), true);
    assert.equal(log.record('rate', 'a'), true);
    assert.equal(log.record('rate', 'a'), false);
    clock.advance(10_000);
    assert.equal(log.record('rate', 'a'), true);
  });
  test('many sources: memory bounded, lines bounded per interval, counts exact', () => {
    const clock = new FakeClock();
    const log = new RefusalLog(clock, { maxSources: 1000, linesPerInterval: 20, summaryEveryMs: 5000 });
    let lines = 0;
    let suppressed = 0;
    let maxSize = 0;
    for (let i = 0; i < 100_000; i++) {
      if (log.record('only_from', sourceKey(i % 2 === 0 ? v4(i) : v6(i)))) lines++;
      for (const s of log.due()) suppressed += s.suppressed;
      if (log.size > maxSize) maxSize = log.size;
      clock.advance(1);
    }
    clock.advance(5000);
    for (const s of log.due()) suppressed += s.suppressed;
    assert.ok(maxSize <= 1000, `size ${maxSize}`);
    // 100 s of flood, 20 lines per 5 s.
    assert.ok(lines <= 20 * 21, `${lines} lines`);
    assert.equal(lines + suppressed, 100_000);
  });
  test('past maxSources a new source goes into the summary only', () => {
    const clock = new FakeClock();
    const log = new RefusalLog(clock, { maxSources: 2, linesPerInterval: 100 });
    assert.equal(log.record('rate', 'a'), true);
    assert.equal(log.record('rate', 'b'), true);
    assert.equal(log.record('rate', 'c'), false);
    assert.equal(log.record('rate', 'a'), true);
    assert.equal(log.size, 2);
  });
});

function limits(overrides: Partial<PolicyLimits> = {}): PolicyLimits {
  return {
    onlyFrom: null,
    noAccess: [],
    maxPerSource: null,
    rate: null,
    ratePerSource: null,
    maxChildren: 256,
    queue: 128,
    ...overrides,
  };
}

const idle = { running: 0, queued: 0 };

describe('ServicePolicy: the composed decision', () => {
  test('no policy keys: max_children and queue only', () => {
    const policy = new ServicePolicy(limits({ maxChildren: 1, queue: 1 }), new FakeClock());
    assert.equal(policy.admitConnection('127.0.0.1', idle), 'start');
    assert.equal(policy.admitConnection('127.0.0.1', { running: 1, queued: 0 }), 'queue');
    assert.equal(policy.admitConnection('127.0.0.1', { running: 1, queued: 1 }), 'queue_full');
  });
  test('order: access, then max_per_source, then rate_per_source, then rate, then the queue', () => {
    const clock = new FakeClock();
    const policy = new ServicePolicy(
      limits({ onlyFrom: ['10.0.0.0/8'], noAccess: ['10.0.0.66'], maxPerSource: 1, rate: 3, ratePerSource: 2, maxChildren: 1, queue: 0 }),
      clock,
    );
    const full = { running: 1, queued: 0 };
    // Access comes first even when everything else would refuse too.
    assert.equal(policy.admitConnection('11.0.0.1', full), 'only_from');
    assert.equal(policy.admitConnection('10.0.0.66', full), 'no_access');
    assert.equal(policy.admitConnection('10.0.0.1', idle), 'start');
    // 10.0.0.1 has one open and may have 1: max_per_source before the rates.
    assert.equal(policy.admitConnection('10.0.0.1', full), 'max_per_source');
    policy.release('10.0.0.1');
    assert.equal(policy.admitConnection('10.0.0.1', idle), 'start');
    policy.release('10.0.0.1');
    assert.equal(policy.admitConnection('10.0.0.1', idle), 'rate_per_source');
    assert.equal(policy.admitConnection('10.0.0.2', idle), 'start');
    policy.release('10.0.0.2');
    assert.equal(policy.admitConnection('10.0.0.3', idle), 'rate');
    clock.advance(20_000);
    // A full service takes no token: the token is still there afterwards.
    assert.equal(policy.admitConnection('10.0.0.3', full), 'queue_full');
    assert.equal(policy.admitConnection('10.0.0.3', idle), 'start');
  });
  test('a refused connection takes no rate token', () => {
    const policy = new ServicePolicy(limits({ rate: 1, maxPerSource: 1 }), new FakeClock());
    assert.equal(policy.admitConnection('10.0.0.1', idle), 'start');
    const policy2 = new ServicePolicy(limits({ rate: 1, maxPerSource: 1, ratePerSource: 1 }), new FakeClock());
    assert.equal(policy2.admitConnection('10.0.0.1', idle), 'start');
    for (let i = 0; i < 5; i++) assert.equal(policy2.admitConnection('10.0.0.1', idle), 'max_per_source');
    policy2.release('10.0.0.1');
    assert.equal(policy2.admitConnection('10.0.0.2', idle), 'rate');
  });
  test('release() frees a max_per_source slot, and the count covers queued connections', () => {
    const policy = new ServicePolicy(limits({ maxPerSource: 2, maxChildren: 1, queue: 10 }), new FakeClock());
    assert.equal(policy.admitConnection('192.0.2.1', idle), 'start');
    assert.equal(policy.admitConnection('192.0.2.1', { running: 1, queued: 0 }), 'queue');
    assert.equal(policy.admitConnection('192.0.2.1', { running: 1, queued: 1 }), 'max_per_source');
    assert.equal(policy.admitConnection('192.0.2.2', { running: 1, queued: 1 }), 'queue');
    assert.equal(policy.trackedSources, 2);
    policy.release('192.0.2.1');
    assert.equal(policy.admitConnection('::ffff:192.0.2.1', { running: 1, queued: 1 }), 'queue');
    assert.equal(policy.admitConnection('192.0.2.1', { running: 1, queued: 2 }), 'max_per_source');
    policy.release('192.0.2.1');
    policy.release('::ffff:192.0.2.1');
    policy.release('192.0.2.2');
    assert.equal(policy.trackedSources, 0);
  });
  test('IPv6 sources count by /64 for max_per_source and rate_per_source', () => {
    const clock = new FakeClock();
    const policy = new ServicePolicy(limits({ maxPerSource: 2, ratePerSource: 3 }), clock);
    assert.equal(policy.admitConnection('2001:db8:1:2::1', idle), 'start');
    assert.equal(policy.admitConnection('2001:db8:1:2::2', idle), 'start');
    assert.equal(policy.admitConnection('2001:db8:1:2::3', idle), 'max_per_source');
    assert.equal(policy.admitConnection('2001:db8:1:3::1', idle), 'start');
    policy.release('2001:db8:1:2::1');
    assert.equal(policy.admitConnection('2001:db8:1:2:ffff::9', idle), 'start');
    policy.release('2001:db8:1:2::2');
    assert.equal(policy.admitConnection('2001:db8:1:2::abcd', idle), 'rate_per_source');
  });
  test("'' (unix) bypasses the per-source rules", () => {
    const policy = new ServicePolicy(limits({ maxPerSource: 1, ratePerSource: 1 }), new FakeClock());
    for (let i = 0; i < 5; i++) assert.equal(policy.admitConnection('', idle), 'start');
    assert.equal(policy.trackedSources, 0);
    assert.equal(policy.rateSources, 0);
    policy.release('');
    assert.equal(policy.admitRequest(''), null);
  });
  test('the service rate applies to unix connections too', () => {
    const policy = new ServicePolicy(limits({ rate: 2 }), new FakeClock());
    assert.equal(policy.admitConnection('', idle), 'start');
    assert.equal(policy.admitConnection('', idle), 'start');
    assert.equal(policy.admitConnection('', idle), 'rate');
  });
  test('admitRequest: access, rate_per_source, rate; no count kept', () => {
    const clock = new FakeClock();
    const policy = new ServicePolicy(limits({ noAccess: ['::1'], maxPerSource: 1, rate: 3, ratePerSource: 2 }), clock);
    assert.equal(policy.admitRequest('::1'), 'no_access');
    assert.equal(policy.admitRequest('127.0.0.1'), null);
    assert.equal(policy.admitRequest('127.0.0.1'), null);
    assert.equal(policy.admitRequest('127.0.0.1'), 'rate_per_source');
    assert.equal(policy.trackedSources, 0);
    assert.equal(policy.admitRequest('127.0.0.2'), null);
    assert.equal(policy.admitRequest('127.0.0.3'), 'rate');
    clock.advance(60_000);
    assert.equal(policy.admitRequest('127.0.0.1'), null);
  });
  test('reconfigure keeps counts, and rate state while the rate is unchanged', () => {
    const clock = new FakeClock();
    const before = limits({ maxPerSource: 2, rate: 2, ratePerSource: 5 });
    const policy = new ServicePolicy(before, clock);
    assert.equal(policy.admitConnection('10.0.0.1', idle), 'start');
    assert.equal(policy.admitConnection('10.0.0.1', idle), 'start');
    // Same rate, a tighter max_per_source, new access rules.
    policy.reconfigure({ ...before, maxPerSource: 1, onlyFrom: ['10.0.0.0/24'] });
    assert.equal(policy.admitConnection('10.0.1.1', idle), 'only_from');
    assert.equal(policy.admitConnection('10.0.0.1', idle), 'max_per_source');
    assert.equal(policy.admitConnection('10.0.0.2', idle), 'rate');
    // A new rate starts with a full bucket.
    policy.reconfigure({ ...before, rate: 3 });
    assert.equal(policy.admitConnection('10.0.0.2', idle), 'start');
    // Counts kept across both reloads: two releases empty them.
    policy.release('10.0.0.1');
    policy.release('10.0.0.1');
    policy.release('10.0.0.2');
    assert.equal(policy.trackedSources, 0);
    // Dropping the rates drops their state.
    policy.reconfigure(limits());
    assert.equal(policy.rateSources, 0);
  });
});
