// An accepted stream connection as the rest of superd sees it: a descriptor to
// hand to a handler and the addresses that go into its environment and logs.
// superd never reads or writes it.

export interface Connection {
  /** Blocking, as handlers expect of their stdio; open until close(). */
  readonly fd: number;
  /** Plain IPv4 for an IPv4 client on a dual-stack socket; '' when the client is already gone. */
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** Closes superd's copy; a handler keeps its own. */
  close(): void;
}
