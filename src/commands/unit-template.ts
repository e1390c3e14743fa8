// The systemd unit `superd unit` prints. contrib/superd.service is this text
// for TYPICAL_PATHS, and a test compares the two, so the shipped unit and
// the printed one cannot drift apart: edit the unit here.

/** What a unit names: the programs with absolute paths, and the options passed through. */
export interface UnitInstall {
  /** The node binary, absolute (systemd's PATH need not have it: nvm, /opt). */
  node: string;
  /** The options bin/superd's shebang gives node. */
  nodeOptions: string[];
  /** bin/superd of the installed package, absolute. */
  superd: string;
  servicesDir: string;
  pidFile: string;
}

/** Where contrib/superd.service has them: `npm install -g` with a node in /usr/local. */
export const TYPICAL_PATHS = {
  node: '/usr/local/bin/node',
  superd: '/usr/local/lib/node_modules/superd/bin/superd',
} as const;

/** The pid file a unit uses when `superd unit` is given none: ExecReload and contrib/superd.logrotate need one. */
export const UNIT_PID_FILE = '/run/superd.pid';

/**
 * One word of an Exec*= line as systemd reads it back: `%` (specifiers) and
 * `$` (variables) doubled, and quoted when it has anything else a shell or
 * systemd would split or interpret.
 */
export function execWord(word: string): string {
  const escaped = word.replaceAll('%', '%%').replaceAll('$', '$$$$');
  return /^[A-Za-z0-9_/.,:=+@%$-]+$/.test(escaped) ? escaped : `"${escaped.replace(/[\\"]/g, '\\$&')}"`;
}

export function renderUnit(u: UnitInstall): string {
  const prefix = [u.node, ...u.nodeOptions, u.superd].map(execWord).join(' ');
  const pid = execWord(u.pidFile);
  return `# systemd unit for superd, as \`superd unit\` prints it:
#   superd unit > /etc/systemd/system/superd.service
# It runs node and superd by absolute path, so systemd's PATH need not have
# them (a node from nvm or in /opt): print it again after moving either.
# Works with systemd 252 (Debian 12) and later.
[Unit]
Description=superd inetd-style super-server
Documentation=man:superd(8) man:superd.conf(5)
After=network.target
# Not gated on \`superd check\`: one bad file must not keep every other service down.

[Service]
# superd sends READY=1 once every service listens, and RELOADING=1 ... READY=1
# around each reload (sd_notify over NOTIFY_SOCKET).
Type=notify
NotifyAccess=main
# Node's options are those of bin/superd's first line.
ExecStart=${prefix} run --services-dir ${execWord(u.servicesDir)} --pid-file ${pid}
# Waits for the reload to finish and fails when it had errors (printed as FILE:LINE).
ExecReload=${prefix} reload --pid-file ${pid}
# Stop only superd itself: it gives running handlers --shutdown-grace seconds
# (10), then sends their process groups SIGTERM and, 5 s later, SIGKILL. The
# default (control-group) would kill every handler at once.
KillMode=process
TimeoutStopSec=30
Restart=on-failure
# libuv's thread pool (4 threads) starts handlers, writes --log-file and reads
# services.d; Node reads its size only at start:
#Environment=UV_THREADPOOL_SIZE=8

# Hardening that still lets superd do its job. The bounding set is also what
# every handler can have, so it lists what root handlers commonly need too:
#   CAP_NET_BIND_SERVICE  ports below 1024 (superd's sockets)
#   CAP_SETUID CAP_SETGID \`user =\`/\`group =\` (setpriv switches ids, drops groups)
#   CAP_KILL              signal handlers that run as other users (timeout, shutdown)
#   CAP_SYS_RESOURCE      lower a handler's open-file limit to 1024
#   CAP_SYS_CHROOT        handlers that chroot (in.tftpd -s, rsync's use chroot)
#   CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_CHOWN CAP_FOWNER
#                         root handlers that serve files they do not own
# Add what your own root handlers need; a handler with \`user =\` runs with none.
CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID CAP_KILL CAP_SYS_RESOURCE CAP_SYS_CHROOT CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_CHOWN CAP_FOWNER
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
ProtectSystem=full
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
LockPersonality=yes
RestrictRealtime=yes
RestrictNamespaces=yes
SystemCallArchitectures=native
# Not set, on purpose: NoNewPrivileges (setuid programs in handlers), PrivateTmp
# and ProtectHome (handlers serve from /tmp and home directories), MemoryDenyWriteExecute
# (Node's JIT needs writable code pages).
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`;
}
