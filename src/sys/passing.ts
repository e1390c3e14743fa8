// Passing descriptors through a unix datagram socketpair (SCM_RIGHTS), each
// with a 4-byte tag: how stderr/park.ts keeps quiet pipes out of superd's
// descriptor table.
import { AF_UNIX, MSG_CMSG_CLOEXEC, MSG_DONTWAIT, MSG_NOSIGNAL, O_CLOEXEC, O_NONBLOCK, SCM_RIGHTS, SOCK_DGRAM, SOL_SOCKET } from './constants.js';
import { koffi, libcFunction } from './koffi.js';
import { structs } from './structs.js';

export interface PassingCalls {
  /** A close-on-exec, non-blocking SOCK_DGRAM socketpair: [send end, receive end], or null. */
  socketpair(): [number, number] | null;
  /** Sends `fd` with a 4-byte tag: 0, or -1 (EAGAIN when the pair is full, ETOOMANYREFS…). */
  sendFd(socket: number, fd: number, tag: number): number;
  /**
   * The next message's tag and the descriptor it carried (close-on-exec; -1
   * when the kernel could not give it, e.g. superd is out of descriptors), or
   * null when there is no message.
   */
  receiveFd(socket: number): { tag: number; fd: number } | null;
}

interface ControlMessage {
  cmsg_len: number;
  cmsg_level: number;
  cmsg_type: number;
  fd: number;
}

export function bindPassing(): PassingCalls {
  const k = koffi();
  const { cmsghdrFd } = structs();
  const socketpair = libcFunction('int socketpair(int domain, int type, int protocol, _Out_ int *fds)');
  // koffi builds the msghdr and its iovec for the call from an object, and
  // copies the msghdr back after recvmsg (its msg_controllen, msg_flags); the
  // buffers they point to are passed as they are, and filled in place.
  const sendmsg = libcFunction('long sendmsg(int fd, const msghdr *msg, int flags)');
  const recvmsg = libcFunction('long recvmsg(int fd, _Inout_ msghdr *msg, int flags)');
  const CONTROL_SPACE = k.sizeof(cmsghdrFd); // CMSG_SPACE(sizeof(int))
  const CONTROL_LEN = k.offsetof(cmsghdrFd, 'fd') + 4; // CMSG_LEN(sizeof(int))
  const tag = Buffer.alloc(4);
  const control = Buffer.alloc(CONTROL_SPACE);
  const message = (): { msg_controllen: number } & Record<string, unknown> => ({
    msg_name: null,
    msg_namelen: 0,
    msg_iov: [{ iov_base: tag, iov_len: tag.length }],
    msg_iovlen: 1,
    msg_control: control,
    msg_controllen: CONTROL_SPACE,
    msg_flags: 0,
  });
  const pair = new Int32Array(2);
  return {
    socketpair: () => {
      if ((socketpair(AF_UNIX, SOCK_DGRAM | O_CLOEXEC | O_NONBLOCK, 0, pair) as number) !== 0) return null;
      return [pair[0] ?? -1, pair[1] ?? -1];
    },
    sendFd: (socket, fd, value) => {
      k.encode(control, 0, cmsghdrFd, { cmsg_len: CONTROL_LEN, cmsg_level: SOL_SOCKET, cmsg_type: SCM_RIGHTS, fd } satisfies ControlMessage);
      tag.writeUInt32LE(value, 0);
      return Number(sendmsg(socket, message(), MSG_DONTWAIT | MSG_NOSIGNAL)) === tag.length ? 0 : -1;
    },
    receiveFd: (socket) => {
      control.fill(0);
      const msg = message();
      const got = Number(recvmsg(socket, msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC));
      if (got <= 0) return null;
      const value = got === tag.length ? tag.readUInt32LE(0) : 0;
      const cmsg = k.decode(control, 0, cmsghdrFd) as ControlMessage;
      if (Number(msg.msg_controllen) < CONTROL_LEN || cmsg.cmsg_level !== SOL_SOCKET || cmsg.cmsg_type !== SCM_RIGHTS) return { tag: value, fd: -1 };
      return { tag: value, fd: cmsg.fd };
    },
  };
}
