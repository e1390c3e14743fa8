// The builtins byte for byte against their RFCs, and each builtin serving a
// real loopback tcp connection. (Which udp sources they answer:
// unit-datagram.test.ts.)
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import type { BuiltinName } from '../src/config/types.js';
import {
  CHARGEN_LINE_BYTES,
  CHARGEN_PERIOD_BYTES,
  chargenBytes,
  chargenLine,
} from '../src/builtins/chargen.js';
import { daytimeLine } from '../src/builtins/daytime.js';
import { builtin } from '../src/builtins/index.js';
import { rfc868Bytes, rfc868Seconds } from '../src/builtins/time.js';
import { sleep, within } from './helpers/wait.js';

describe('chargen pattern (RFC 864)', () => {
  test('the first lines are exact', () => {
    assert.equal(chargenLine(0), ' !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n');
    assert.equal(chargenLine(1), '!"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefgh\r\n');
    assert.equal(chargenLine(2), '"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghi\r\n');
  });
  test('every line is 72 printable characters and CRLF', () => {
    for (let n = 0; n < 95; n++) {
      const line = chargenLine(n);
      assert.equal(line.length, 74);
      assert.equal(CHARGEN_LINE_BYTES, 74);
      assert.match(line, /^[\x20-\x7e]{72}\r\n$/);
    }
  });
  test('each line starts one character later in the ring', () => {
    for (let n = 0; n < 200; n++) {
      assert.equal(chargenLine(n + 1).slice(0, 71), chargenLine(n).slice(1, 72));
    }
  });
  test('the ring wraps: 0x7E is followed by 0x20, and line 95 is line 0', () => {
    assert.equal(chargenLine(94).slice(0, 3), '~ !');
    assert.equal(chargenLine(23).slice(71, 72), '~');
    assert.equal(chargenLine(24).slice(70, 72), '~ ');
    assert.equal(chargenLine(95), chargenLine(0));
    assert.equal(chargenLine(95 * 3 + 7), chargenLine(7));
    assert.equal(CHARGEN_PERIOD_BYTES, 95 * 74);
  });
  test('the stream is the lines one after another, from any offset', () => {
    const lines = Array.from({ length: 200 }, (_, n) => chargenLine(n)).join('');
    assert.equal(chargenBytes(0, lines.length).toString('latin1'), lines);
    assert.equal(chargenBytes(1000, 9000).toString('latin1'), lines.slice(1000, 10000));
    assert.deepEqual(chargenBytes(CHARGEN_PERIOD_BYTES + 5, 100), chargenBytes(5, 100));
    assert.equal(chargenBytes(0, 0).length, 0);
  });
});

describe('time (RFC 868)', () => {
  const at = (iso: string): number => rfc868Seconds(new Date(iso));
  test('known dates', () => {
    assert.equal(at('1900-01-01T00:00:00Z'), 0);
    assert.equal(at('1970-01-01T00:00:00Z'), 2_208_988_800);
    assert.equal(at('2000-01-01T00:00:00Z'), 3_155_673_600);
    assert.equal(at('1970-01-01T00:00:01.999Z'), 2_208_988_801);
  });
  test('wraps modulo 2^32 on 2036-02-07T06:28:16Z', () => {
    assert.equal(at('2036-02-07T06:28:15Z'), 2 ** 32 - 1);
    assert.equal(at('2036-02-07T06:28:16Z'), 0);
    assert.equal(at('2036-02-07T06:28:17Z'), 1);
    assert.equal(at('2040-01-01T00:00:00Z'), Date.UTC(2040, 0, 1) / 1000 + 2_208_988_800 - 2 ** 32);
  });
  test('four bytes, big-endian', () => {
    assert.deepEqual(rfc868Bytes(new Date('1970-01-01T00:00:00Z')), Buffer.from([0x83, 0xaa, 0x7e, 0x80]));
    assert.deepEqual(rfc868Bytes(new Date('1900-01-01T00:00:00Z')), Buffer.from([0, 0, 0, 0]));
  });
});

describe('daytime (RFC 867)', () => {
  test('one line in UTC, as Weekday, Month DD, YYYY HH:MM:SS-UTC and CRLF', () => {
    assert.equal(daytimeLine(new Date('2026-11-29T22:05:01Z')), 'Sunday, November 29, 2026 22:05:01-UTC\r\n');
    assert.equal(daytimeLine(new Date('2000-01-05T03:04:05Z')), 'Wednesday, January 05, 2000 03:04:05-UTC\r\n');
    assert.equal(daytimeLine(new Date('2024-02-29T23:59:59.999Z')), 'Thursday, February 29, 2024 23:59:59-UTC\r\n');
  });
  test('the same instant gives the same line whatever it was written in', () => {
    assert.equal(daytimeLine(new Date('2026-11-30T01:05:01+03:00')), 'Sunday, November 29, 2026 22:05:01-UTC\r\n');
  });
});

describe('datagram answers', () => {
  const now = new Date('2026-11-29T22:05:01Z');
  test('echo returns a copy of the request', () => {
    const request = Buffer.from('hello\r\n');
    const reply = builtin('echo').answerDatagram(request, now);
    assert.ok(reply !== null);
    assert.deepEqual(reply, request);
    reply[0] = 0x58;
    assert.equal(request.toString(), 'hello\r\n');
    assert.deepEqual(builtin('echo').answerDatagram(Buffer.alloc(0)), Buffer.alloc(0));
    const big = randomBytes(1400);
    assert.deepEqual(builtin('echo').answerDatagram(big), big);
  });
  test('discard never answers', () => {
    assert.equal(builtin('discard').answerDatagram(Buffer.from('x'), now), null);
    assert.equal(builtin('discard').answerDatagram(Buffer.alloc(0)), null);
  });
  test('chargen answers one whole line (74 bytes) whatever the request, the next line of the ring each time', () => {
    const first = builtin('chargen').answerDatagram(Buffer.alloc(0), now);
    assert.ok(first !== null);
    const start = Array.from({ length: 95 }, (_, n) => chargenLine(n)).indexOf(first.toString('latin1'));
    assert.ok(start >= 0, `a line of the ring: ${JSON.stringify(first.toString('latin1'))}`);
    // Twice round the ring, to a request empty, short and long.
    for (let i = 1; i <= 2 * 95; i++) {
      const request = [Buffer.alloc(0), Buffer.from('x'), randomBytes(1000)][i % 3];
      const reply = builtin('chargen').answerDatagram(request, now);
      assert.ok(reply !== null);
      assert.equal(reply.length, CHARGEN_LINE_BYTES);
      assert.equal(reply.length, 74);
      assert.equal(reply.toString('latin1'), chargenLine(start + i));
      assert.ok(reply.subarray(-2).equals(Buffer.from('\r\n')));
    }
    // A caller that changes a reply does not change the pattern.
    const changed = builtin('chargen').answerDatagram(Buffer.alloc(0));
    assert.ok(changed !== null);
    changed.fill(0);
    for (let i = 1; i <= 95; i++) assert.equal(builtin('chargen').answerDatagram(Buffer.alloc(0))?.toString('latin1'), chargenLine(start + 2 * 95 + 1 + i));
  });
  test('daytime answers its line', () => {
    assert.equal(builtin('daytime').answerDatagram(Buffer.from('x'), now)?.toString('latin1'), daytimeLine(now));
    assert.match(builtin('daytime').answerDatagram(Buffer.alloc(0))?.toString('latin1') ?? '', /-UTC\r\n$/);
  });
  test('time answers its four bytes to any datagram', () => {
    assert.deepEqual(builtin('time').answerDatagram(Buffer.alloc(0), now), rfc868Bytes(now));
    assert.deepEqual(builtin('time').answerDatagram(Buffer.from('junk'), now), rfc868Bytes(now));
    assert.equal(builtin('time').answerDatagram(Buffer.alloc(0))?.length, 4);
  });
});

/** A loopback tcp connection whose server side is served by a builtin. */
interface Served {
  client: net.Socket;
  server: net.Socket;
  /** Resolves when done() is first called. */
  done: Promise<void>;
  /** How many times done() has been called so far. */
  doneCalls: () => number;
}

const listeners: net.Server[] = [];
after(() => {
  for (const l of listeners) l.close();
});

async function serve(name: BuiltinName, clientOptions: { allowHalfOpen?: boolean } = {}, now?: () => Date): Promise<Served> {
  let calls = 0;
  let finished!: () => void;
  const done = new Promise<void>((r) => (finished = r));
  let gotServer!: (s: net.Socket) => void;
  const serverSide = new Promise<net.Socket>((r) => (gotServer = r));
  const listener = net.createServer({ allowHalfOpen: true }, (socket) => {
    gotServer(socket);
    builtin(name).serveStream(
      socket,
      () => {
        calls++;
        finished();
      },
      now,
    );
  });
  listeners.push(listener);
  await within(new Promise<void>((r) => listener.listen(0, '127.0.0.1', r)), 2000, 'listen');
  const { port } = listener.address() as net.AddressInfo;
  const client = net.connect({ host: '127.0.0.1', port, allowHalfOpen: clientOptions.allowHalfOpen ?? false });
  client.on('error', () => {});
  await within(new Promise<void>((r) => client.once('connect', r)), 2000, 'connect');
  const server = await within(serverSide, 2000, 'accept');
  // The listener is only needed for this one connection.
  listener.close();
  return { client, server, done, doneCalls: () => calls };
}

/** Everything the client receives until the server ends. */
function readAll(client: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  client.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => client.once('end', () => resolve(Buffer.concat(chunks))));
}

/** done() fired, and a moment later it still has fired only once. */
async function doneOnce(s: Served, what: string): Promise<void> {
  await within(s.done, 5000, `${what}: done()`);
  await sleep(50);
  assert.equal(s.doneCalls(), 1, `${what}: done() calls`);
}

describe('serving a tcp connection', () => {
  test('echo sends back exactly what was sent, then ends after the client half-closes', async () => {
    const s = await serve('echo', { allowHalfOpen: true });
    const sent = randomBytes(1024 * 1024);
    const received = readAll(s.client);
    s.client.end(sent);
    const got = await within(received, 5000, 'echo reply and end');
    assert.equal(got.length, sent.length);
    assert.ok(got.equals(sent));
    await doneOnce(s, 'echo');
  });

  test('echo stops reading while the client does not read its replies', async () => {
    const s = await serve('echo', { allowHalfOpen: true });
    s.client.pause();
    const sent = randomBytes(16 * 1024 * 1024);
    s.client.write(sent);
    let most = 0;
    for (let i = 0; i < 10; i++) {
      await sleep(50);
      most = Math.max(most, s.server.writableLength);
    }
    assert.ok(most < 1024 * 1024, `echo buffered ${most} bytes`);
    assert.ok(s.server.bytesRead < sent.length, 'echo read everything although nothing was read back');
    const received = readAll(s.client);
    s.client.resume();
    s.client.end();
    const got = await within(received, 10000, 'echo reply once read');
    assert.ok(got.equals(sent));
    await doneOnce(s, 'echo (backed up)');
  });

  test('discard reads everything, sends nothing, and is over after the client ends', async () => {
    const s = await serve('discard');
    const received = readAll(s.client);
    s.client.end(randomBytes(1024 * 1024));
    assert.equal((await within(received, 5000, 'discard end')).length, 0);
    await doneOnce(s, 'discard');
    assert.equal(s.server.bytesRead, 1024 * 1024);
  });

  test('discard is over when the client goes away without ending', async () => {
    const s = await serve('discard');
    s.client.write('some bytes');
    await sleep(50);
    s.client.destroy();
    await doneOnce(s, 'discard (destroyed client)');
  });

  test('daytime writes its line and ends', async () => {
    const at = new Date('2026-11-29T22:05:01Z');
    const s = await serve('daytime', {}, () => at);
    const got = await within(readAll(s.client), 5000, 'daytime line');
    assert.equal(got.toString('latin1'), 'Sunday, November 29, 2026 22:05:01-UTC\r\n');
    await doneOnce(s, 'daytime');
  });

  test('daytime answers a client that sends, and one that has already half-closed', async () => {
    const at = new Date('2000-01-05T03:04:05Z');
    const chatty = await serve('daytime', {}, () => at);
    const fromChatty = readAll(chatty.client);
    chatty.client.write(randomBytes(100_000));
    assert.equal((await within(fromChatty, 5000, 'daytime to a sender')).toString('latin1'), daytimeLine(at));
    await doneOnce(chatty, 'daytime (sender)');

    const quiet = await serve('daytime', { allowHalfOpen: true }, () => at);
    const fromQuiet = readAll(quiet.client);
    quiet.client.end();
    assert.equal((await within(fromQuiet, 5000, 'daytime after half-close')).toString('latin1'), daytimeLine(at));
    await doneOnce(quiet, 'daytime (half-closed)');
  });

  test('time writes four bytes and ends', async () => {
    const at = new Date('1970-01-01T00:00:00Z');
    const s = await serve('time', {}, () => at);
    const got = await within(readAll(s.client), 5000, 'time bytes');
    assert.deepEqual(got, Buffer.from([0x83, 0xaa, 0x7e, 0x80]));
    await doneOnce(s, 'time');
  });

  test('chargen sends the pattern from line one', async () => {
    const s = await serve('chargen');
    const want = 3 * CHARGEN_PERIOD_BYTES + 123;
    const chunks: Buffer[] = [];
    let have = 0;
    const enough = new Promise<void>((resolve) => {
      s.client.on('data', (c: Buffer) => {
        chunks.push(c);
        have += c.length;
        if (have >= want) resolve();
      });
    });
    await within(enough, 5000, 'chargen bytes');
    assert.ok(Buffer.concat(chunks).subarray(0, want).equals(chargenBytes(0, want)));
    s.client.destroy();
    await doneOnce(s, 'chargen');
  });

  test('chargen keeps sending after the client half-closes, and input does not stop it', async () => {
    const s = await serve('chargen', { allowHalfOpen: true });
    let have = 0;
    s.client.on('data', (c: Buffer) => (have += c.length));
    s.client.write(randomBytes(200_000));
    s.client.end();
    await sleep(200);
    const before = have;
    assert.ok(before > 0);
    assert.ok(await waitFor(() => have > before + 1024 * 1024, 5000), 'chargen stopped after the half-close');
    assert.equal(s.doneCalls(), 0);
    s.client.destroy();
    await doneOnce(s, 'chargen (half-closed)');
  });

  test('chargen to a client that never reads holds bounded memory, and is over when the client goes', async () => {
    const s = await serve('chargen');
    s.client.pause();
    let most = 0;
    for (let i = 0; i < 20; i++) {
      await sleep(50);
      most = Math.max(most, s.server.writableLength);
    }
    assert.ok(s.server.bytesWritten > 0, 'chargen sent nothing');
    assert.ok(most < 1024 * 1024, `chargen buffered ${most} bytes`);
    assert.equal(s.doneCalls(), 0);
    s.client.destroy();
    await doneOnce(s, 'chargen (never read)');
  });

  test('done() fires once when the caller destroys the socket', async () => {
    for (const name of ['echo', 'discard', 'chargen', 'daytime', 'time'] as const) {
      const s = await serve(name, { allowHalfOpen: true });
      s.client.pause();
      s.server.destroy();
      await doneOnce(s, `${name} (destroyed by caller)`);
      s.client.destroy();
    }
  });
});

/** Polls until cond() holds or `ms` have passed; says which. */
async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() >= deadline) return false;
    await sleep(10);
  }
  return true;
}
