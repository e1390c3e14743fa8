// The held-connections run (issue 11: does superd stay fast while many handlers run?): C=HELD_C
// on `cat` without, then HELD connections to `hold` opened and kept open (HELD handlers running),
// C=HELD_C on `cat` again, then they are closed and the harness waits until the handlers are gone.
import { setTimeout as sleep } from 'node:timers/promises';
import { round } from './format.js';
import { startHolder, type Holder } from './holder.js';
import { errorText } from './loadgen.js';
import { measure, type RunContext } from './measure.js';
import { HELD, HELD_C, HOLD_RELEASE_MAX, HOLD_SETUP_MAX } from './options.js';
import { alive, procChildren } from './proc.js';

/** Opens the HELD connections and waits (bounded) until /proc shows their handlers running. */
async function holdAll(m: RunContext, holder: Holder, h0: number): Promise<void> {
  const { d, st, tag } = m;
  const ev = await holder.held();
  st.conns += ev.attempts;
  st.held_ok = ev.held;
  st.held_errors = ev.errors;
  process.stderr.write(`${tag}: holder: ${ev.held}/${HELD} connections to 'hold' echoed and kept open in ${ev.elapsed_s.toFixed(1)} s` +
    `${ev.errors ? `; errors ${ev.errors}${errorText(ev)}` : ''}\n`);
  // each held connection echoed, so its handler is running; wait until /proc shows them all
  // as the daemon's children (bounded)
  let kids = procChildren(d.pid);
  while ((kids.live ?? 0) < ev.held && alive(d.pid) && Date.now() - h0 < HOLD_SETUP_MAX * 1000) {
    await sleep(250);
    kids = procChildren(d.pid);
  }
  st.held_setup_s = round((Date.now() - h0) / 1000, 1);
  st.held_children = kids.live;
  process.stderr.write(`${tag}: ${kids.live} handlers running (${kids.zombies} zombies) after ${st.held_setup_s} s\n`);
  if (ev.held < HELD) process.stderr.write(`${tag}: warning: only ${ev.held} of ${HELD} connections held\n`);
}

/** Closes the held connections and waits (bounded) until the daemon has reaped every handler. */
async function releaseAll(m: RunContext, holder: Holder): Promise<void> {
  const { d, st, tag } = m;
  const r0 = Date.now();
  const rel = await holder.release();
  st.held_dropped = rel ? rel.dropped : null;
  // every handler sees EOF and exits; wait until the daemon has reaped them all (bounded)
  let kids = procChildren(d.pid);
  while ((kids.live || kids.zombies) && alive(d.pid) && Date.now() - r0 < HOLD_RELEASE_MAX * 1000) {
    await sleep(100);
    kids = procChildren(d.pid);
  }
  st.release_s = round((Date.now() - r0) / 1000, 1);
  st.children_after_release = (kids.live ?? 0) + (kids.zombies ?? 0);
  process.stderr.write(`${tag}: released; ${st.children_after_release} children left after ${st.release_s} s` +
    `${rel?.dropped ? ` (${rel.dropped} held connections had been closed by the server)` : ''}\n`);
}

/** The held scenario on a started, smoke-tested and warmed-up instance serving `cat` and `hold`. */
export async function runHeld(m: RunContext, holdPort: number): Promise<void> {
  if (!(await measure(m, HELD_C, 'held0'))) return;
  const h0 = Date.now();
  let holder: Holder | null = startHolder(holdPort);
  try {
    await holdAll(m, holder, h0);
    await measure(m, HELD_C, 'held');
    const h = holder;
    holder = null;
    await releaseAll(m, h);
  } finally {
    // on failure the holder goes first (its handlers exit), then the caller stops the daemon
    if (holder) await holder.release().catch(() => {});
  }
}
