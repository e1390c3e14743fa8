// The check of the pipe bet (pipe.ts) on a throwaway pipe made with pipe2(2)
// (sys/): `x\n` written to it and its write end closed, the read end read
// through libuv's pipe handle, paused and resumed once, gives `x\n`, then
// its end; closing the reader closes the descriptor.
import { writeSync } from 'node:fs';
import { O_CLOEXEC } from '../sys/constants.js';
import { SysError, strerror } from '../sys/errors.js';
import { loadSys } from '../sys/load.js';
import type { pipeWrap, readPipeWith, PipeReader } from './pipe.js';
import type { BetOutcome } from './paths.js';
import { fdLink, stillOpen } from './procfd.js';
import { Deadline, LATE, Made, failed, passed } from './trial.js';
import { errorMessage } from '../errors.js';

export interface PipeProbes {
  pipeWrap: typeof pipeWrap;
  readPipeWith: typeof readPipeWith;
}

const WRITTEN = 'x\n';

export async function checkPipe(p: PipeProbes, deadline: Deadline): Promise<BetOutcome> {
  let wrap: ReturnType<typeof pipeWrap>;
  try {
    wrap = p.pipeWrap();
  } catch (err) {
    return failed('misbehaved', `looking for process.binding('pipe_wrap') threw: ${errorMessage(err)}`);
  }
  if (wrap === null) return failed('missing', "process.binding('pipe_wrap') and stream_wrap's streamBaseState are not there as used");
  const sys = loadSys();
  if (sys instanceof SysError) return failed('untested', `no pipe to try it on: ${sys.message}`);
  const fds = new Int32Array(2);
  if (sys.pipe2(fds, O_CLOEXEC) !== 0) return failed('untested', `no pipe to try it on: pipe2: ${strerror(sys.errno())}`);
  const [readEnd = -1, writeEnd = -1] = fds;
  const made = new Made();
  // The reader owns the read end once it has it; until then, and if it gives it back unread, it is closed here.
  let owned = false;
  made.add(() => {
    if (!owned) sys.close(readEnd);
  });
  try {
    try {
      writeSync(writeEnd, WRITTEN);
    } finally {
      sys.close(writeEnd);
    }
    return await trial(p, wrap, readEnd, deadline, made, () => (owned = true));
  } catch (err) {
    return failed('misbehaved', `the check threw: ${errorMessage(err)}`);
  } finally {
    made.undoAll();
  }
}

async function trial(p: PipeProbes, wrap: NonNullable<ReturnType<typeof pipeWrap>>, fd: number, deadline: Deadline, made: Made, own: () => void): Promise<BetOutcome> {
  const link = fdLink(fd);
  let read = '';
  let ended: () => void = () => undefined;
  const end = new Promise<void>((resolve) => (ended = resolve));
  own();
  const reader: PipeReader | null = p.readPipeWith(wrap, fd, (chunk) => (read += chunk.toString('latin1')), ended);
  if (reader === null) return failed('misbehaved', `libuv's pipe handle could not open or read descriptor ${fd}`);
  made.add(() => reader.close());
  reader.pause();
  reader.resume();
  if ((await deadline.wait(end)) === LATE) return failed('misbehaved', `a pipe read through libuv's pipe handle did not end (it read ${JSON.stringify(read)})`);
  if (read !== WRITTEN) return failed('misbehaved', `a pipe read through libuv's pipe handle gave ${JSON.stringify(read)}, not ${JSON.stringify(WRITTEN)}`);
  reader.close();
  if (stillOpen(fd, link)) return failed('misbehaved', `closing a pipe read through libuv's pipe handle left its descriptor ${fd} open`);
  return passed(`a pipe read through libuv's pipe handle gave ${JSON.stringify(WRITTEN)}, then its end, and closed`);
}
