/*
 * loadgen: short-TCP-connection load generator for superd's benchmark.
 *
 * Single thread, epoll, non-blocking sockets. Loopback targets only
 * (127.0.0.0/8 and ::1); anything else is refused.
 *
 * Per connection: connect, send "hello\n", optionally shutdown(SHUT_WR)
 * (-s), read until EOF (-E) or until 6 bytes arrived, optionally verify
 * that exactly "hello\n" came back (-V), close. With -0 it only connects
 * and closes. C connections are kept in flight; it stops after N attempts
 * or when the hard time limit (-t) is reached, whichever comes first.
 * Connections still in flight at the time limit are counted as
 * "abandoned". Every connection also has its own timeout (-T).
 *
 * Latency is measured from just before connect() to EOF (or to the close
 * in -0 mode), for successful connections only.
 *
 * Output: one line of key=value pairs on stdout (or one JSON object with
 * -J). Without -q a human-readable summary also goes to stderr.
 *
 * Hold mode (-H N): open N connections (at most -c of them connecting at
 * once), send "hello\n" on each and wait until it comes back (so the
 * server's handler is running), then keep them all open. When all N are
 * settled it prints an "event=held" line (held, errors by kind, setup time
 * and latency figures) and flushes stdout; it then waits until SIGTERM,
 * SIGINT or SIGHUP, the death of its parent (PR_SET_PDEATHSIG), or the hard
 * time limit -t (counted from its start, so it bounds the whole hold),
 * closes every connection and prints an "event=released" line (how many
 * were still held, how many the server closed or reset meanwhile). -s, -E
 * and -0 do not apply; the echo is always verified. RLIMIT_NOFILE is raised
 * to N + 64 (the hard limit too, when allowed), or it exits with status 2.
 *
 * TLS mode (-S; built with -DLOADGEN_TLS and -lssl -lcrypto): after the
 * connect, a full TLS handshake (no session resumption, no certificate
 * verification: what is measured is the server's side), "hello\n" over TLS,
 * with -s a close_notify and shutdown(SHUT_WR), then read until the
 * server's close_notify or EOF (-E). The hold mode does not take it.
 *
 * Build: cc -O2 -Wall -o loadgen loadgen.c [-DLOADGEN_TLS -lssl -lcrypto]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#ifdef LOADGEN_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#endif

#define MSG "hello\n"
#define MSG_LEN 6
#define BUF_CAP 64
#define MAX_N 10000000L
#define MAX_C 60000

enum kind { K_REFUSED, K_RESET, K_TIMEOUT, K_SHORT, K_MISMATCH, K_OTHER, K_ABANDONED, K_COUNT };
static const char *kind_name[K_COUNT] = {
	"refused", "reset", "timeout", "short", "mismatch", "other", "abandoned"
};

enum state { S_FREE, S_CONNECTING, S_HANDSHAKE, S_READING, S_HELD };

struct conn {
	int fd;
	enum state st;
	double t0;          /* seconds, CLOCK_MONOTONIC, just before connect() */
	size_t got;         /* bytes received (may exceed BUF_CAP; only BUF_CAP kept) */
	char buf[BUF_CAP];
	struct conn *prev, *next;   /* in-flight list, oldest first */
#ifdef LOADGEN_TLS
	SSL *ssl;           /* -S: the session, NULL otherwise */
#endif
};

/* options */
static const char *opt_host = "127.0.0.1";
static int opt_port = -1;
static long opt_c = 1;
static long opt_n = 1000;
static double opt_tlim = 10.0;
static double opt_ctimeout = 5.0;
/* -P 1|2: a PROXY header (version 1 or 2) sent with "hello\n", in the same
 * write, as a balancer sends it; the same header every time (client
 * 192.0.2.1:40000), so its cost is superd's reading it, nothing else. */
static char proxy_hdr[128];
static size_t proxy_len = 0;
static int opt_shut = 0, opt_eof = 0, opt_verify = 0, opt_zero = 0, opt_quiet = 0, opt_json = 0;
static long opt_hold = 0;          /* -H: connections to open and keep open */
static int opt_tls = 0;            /* -S: TLS */
#ifdef LOADGEN_TLS
static SSL_CTX *tls_ctx;
#endif

/* target */
static struct sockaddr_storage target;
static socklen_t target_len;
static int target_family;

/* state */
static int ep = -1;
static struct conn *conns;
static struct conn *free_list;      /* singly linked through next */
static struct conn *head, *tail;    /* in flight, by start time */
static long inflight;
static long attempts, ok;
static long errs[K_COUNT];
static int last_other_errno;
static double *lat;                 /* ms, ok connections */
static long held, dropped;          /* hold mode: open now; closed by the server while held */
static volatile sig_atomic_t stop_sig;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: loadgen -p PORT [-h 127.0.0.1|::1] [-c CONC] [-n ATTEMPTS] [-t SECONDS]\n"
		"               [-T CONN_TIMEOUT_S] [-s] [-E] [-V] [-0] [-P 1|2] [-q] [-J]\n"
		"       loadgen -H N -p PORT [-h ADDR] [-c CONNECTING] [-t LIFETIME_S] [-T CONN_TIMEOUT_S] [-q] [-J]\n"
		"  -s  shutdown(SHUT_WR) after sending \"hello\\n\"\n"
		"  -E  read until EOF (otherwise until 6 bytes arrived)\n"
		"  -V  verify that exactly \"hello\\n\" came back\n"
		"  -0  connect and close only (no data)\n"
		"  -P  1 or 2: send a PROXY header of that version before \"hello\\n\" (same write)\n"
		"  -S  TLS: a full handshake, then \"hello\\n\" over TLS (-s: close_notify, then SHUT_WR)\n"
		"  -q  no human-readable summary on stderr\n"
		"  -J  print the result as JSON instead of key=value\n"
		"  -H  hold mode: open N connections, check that each echoes \"hello\\n\" (its handler\n"
		"      runs), print an event=held line, keep them open until SIGTERM/SIGINT/SIGHUP or\n"
		"      the -t limit (from start), then close them and print an event=released line\n"
		"Only loopback targets (127.0.0.0/8, ::1) are accepted.\n");
	exit(2);
}

static int parse_target(const char *h, int port)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&target;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&target;
	memset(&target, 0, sizeof target);
	if (strcmp(h, "localhost") == 0)
		h = "127.0.0.1";
	if (inet_pton(AF_INET, h, &s4->sin_addr) == 1) {
		if ((ntohl(s4->sin_addr.s_addr) >> 24) != 127)
			return -1;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		target_len = sizeof *s4;
		target_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, h, &s6->sin6_addr) == 1) {
		if (!IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
			return -1;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		target_len = sizeof *s6;
		target_family = AF_INET6;
		return 0;
	}
	return -1;
}

static enum kind classify(int e)
{
	switch (e) {
	case ECONNREFUSED:
		return K_REFUSED;
	case ECONNRESET:
	case EPIPE:
	case ECONNABORTED:
		return K_RESET;
	case ETIMEDOUT:
		return K_TIMEOUT;
	default:
		last_other_errno = e;
		return K_OTHER;
	}
}

static void list_remove(struct conn *c)
{
	if (c->prev) c->prev->next = c->next; else head = c->next;
	if (c->next) c->next->prev = c->prev; else tail = c->prev;
	c->prev = c->next = NULL;
}

static void list_append(struct conn *c)
{
	c->prev = tail;
	c->next = NULL;
	if (tail) tail->next = c; else head = c;
	tail = c;
}

/* Close the connection and return its slot; kind < 0 means success. */
static void finish(struct conn *c, int kind)
{
#ifdef LOADGEN_TLS
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
#endif
	if (c->fd >= 0)
		close(c->fd);   /* also removes it from the epoll set */
	c->fd = -1;
	if (kind < 0) {
		lat[ok++] = (now() - c->t0) * 1000.0;
	} else {
		errs[kind]++;
	}
	list_remove(c);
	c->st = S_FREE;
	c->next = free_list;
	free_list = c;
	inflight--;
}

static void reading(struct conn *c, int registered);

#ifdef LOADGEN_TLS
/* What an SSL call's failure means: -1 to wait (epoll_ctl done), else the error kind. */
static int tls_wait(struct conn *c, int r)
{
	struct epoll_event ev;
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		ev.events = e == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT;
		ev.data.ptr = c;
		if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
			return classify(errno);
		return -1;
	}
	ERR_clear_error();
	if (e == SSL_ERROR_SYSCALL && errno != 0)
		return classify(errno);
	return e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL ? K_RESET : K_OTHER;
}

/* The handshake's next step; once done, "hello\n" (and -s: close_notify, SHUT_WR). */
static void tls_step(struct conn *c)
{
	int r = SSL_do_handshake(c->ssl);
	if (r != 1) {
		int k = tls_wait(c, r);
		if (k >= 0)
			finish(c, k);
		return;
	}
	/* 6 bytes into an empty socket buffer: all written at once, or a failure */
	r = SSL_write(c->ssl, MSG, MSG_LEN);
	if (r != MSG_LEN) {
		int k = r <= 0 ? tls_wait(c, r) : K_OTHER;
		finish(c, k < 0 ? K_OTHER : k);
		return;
	}
	if (opt_shut) {
		SSL_shutdown(c->ssl);   /* sends close_notify; the server's comes with EOF */
		if (shutdown(c->fd, SHUT_WR) < 0) {
			finish(c, classify(errno));
			return;
		}
	}
	reading(c, 1);
}

static void tls_start(struct conn *c, int registered)
{
	struct epoll_event ev;
	c->ssl = SSL_new(tls_ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
		finish(c, K_OTHER);
		return;
	}
	SSL_set_tlsext_host_name(c->ssl, "localhost");
	SSL_set_connect_state(c->ssl);
	c->st = S_HANDSHAKE;
	ev.events = EPOLLOUT;
	ev.data.ptr = c;
	if (!registered && epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		finish(c, classify(errno));
		return;
	}
	tls_step(c);
}
#endif

static void connected(struct conn *c, int registered)
{
	if (opt_zero) {
		finish(c, -1);
		return;
	}
#ifdef LOADGEN_TLS
	if (opt_tls) {
		tls_start(c, registered);
		return;
	}
#endif
	char out[sizeof proxy_hdr + MSG_LEN];
	memcpy(out, proxy_hdr, proxy_len);
	memcpy(out + proxy_len, MSG, MSG_LEN);
	ssize_t w = send(c->fd, out, proxy_len + MSG_LEN, MSG_NOSIGNAL);
	if (w != (ssize_t)(proxy_len + MSG_LEN)) {
		finish(c, w < 0 ? (int)classify(errno) : K_OTHER);
		return;
	}
	if (opt_shut && shutdown(c->fd, SHUT_WR) < 0) {
		finish(c, classify(errno));
		return;
	}
	reading(c, registered);
}

static void reading(struct conn *c, int registered)
{
	struct epoll_event ev;
	c->st = S_READING;
	ev.events = EPOLLIN;
	ev.data.ptr = c;
	if (epoll_ctl(ep, registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		finish(c, classify(errno));
		return;
	}
}

static void start_one(void)
{
	struct conn *c = free_list;
	struct epoll_event ev;
	free_list = c->next;
	c->next = c->prev = NULL;
	c->got = 0;
	c->st = S_CONNECTING;
	inflight++;
	attempts++;
	list_append(c);
	c->t0 = now();
	c->fd = socket(target_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		finish(c, classify(errno));
		return;
	}
	if (connect(c->fd, (struct sockaddr *)&target, target_len) == 0) {
		connected(c, 0);
		return;
	}
	if (errno != EINPROGRESS) {
		finish(c, classify(errno));
		return;
	}
	ev.events = EPOLLOUT;
	ev.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		finish(c, classify(errno));
}

static void hold_it(struct conn *c);

static void verdict(struct conn *c)
{
	if (opt_hold) {
		/* the handler echoed: keep the connection open */
		if (c->got == MSG_LEN && memcmp(c->buf, MSG, MSG_LEN) == 0)
			hold_it(c);
		else
			finish(c, c->got < MSG_LEN ? K_SHORT : K_MISMATCH);
		return;
	}
	if (opt_verify) {
		if (c->got < MSG_LEN)
			finish(c, K_SHORT);
		else if (c->got != MSG_LEN || memcmp(c->buf, MSG, MSG_LEN) != 0)
			finish(c, K_MISMATCH);
		else
			finish(c, -1);
	} else {
		finish(c, c->got < MSG_LEN ? K_SHORT : -1);
	}
}

static void on_readable(struct conn *c)
{
	for (;;) {
		char tmp[512];
		ssize_t r;
#ifdef LOADGEN_TLS
		if (c->ssl) {
			int n = SSL_read(c->ssl, tmp, sizeof tmp);
			if (n <= 0) {
				int e = SSL_get_error(c->ssl, n);
				if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
					return;
				/* the server's close_notify, or its EOF without one: the end */
				if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0)) {
					ERR_clear_error();
					verdict(c);
					return;
				}
				ERR_clear_error();
				finish(c, e == SSL_ERROR_SYSCALL ? classify(errno) : K_OTHER);
				return;
			}
			r = n;
		} else
#endif
		r = recv(c->fd, tmp, sizeof tmp, 0);
		if (r > 0) {
			if (c->got < BUF_CAP) {
				size_t k = (size_t)r;
				if (k > BUF_CAP - c->got)
					k = BUF_CAP - c->got;
				memcpy(c->buf + c->got, tmp, k);
			}
			c->got += (size_t)r;
			if ((!opt_eof || opt_hold) && c->got >= MSG_LEN) {
				verdict(c);
				return;
			}
			continue;
		}
		if (r == 0) {
			verdict(c);
			return;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		if (errno == EINTR)
			continue;
		finish(c, classify(errno));
		return;
	}
}

/* Hold mode: the handler answered; the connection leaves the in-flight list
 * (and its timeout) and stays open, watched only for the server closing it. */
static void hold_it(struct conn *c)
{
	lat[ok++] = (now() - c->t0) * 1000.0;
	list_remove(c);
	inflight--;
	c->st = S_HELD;
	held++;
}

static void on_held_event(struct conn *c)
{
	for (;;) {
		char tmp[512];
		ssize_t r = recv(c->fd, tmp, sizeof tmp, 0);
		if (r > 0)
			continue;       /* unexpected bytes: ignore them */
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r < 0 && errno == EINTR)
			continue;
		/* EOF or error: the server closed it */
		close(c->fd);
		c->fd = -1;
		c->st = S_FREE;
		held--;
		dropped++;
		return;
	}
}

static void on_event(struct conn *c, uint32_t events)
{
	if (c->st == S_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof err;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			finish(c, classify(err));
			return;
		}
		if (!(events & EPOLLOUT)) {
			/* HUP/ERR without a pending error: treat as reset */
			finish(c, K_RESET);
			return;
		}
		connected(c, 1);
#ifdef LOADGEN_TLS
	} else if (c->st == S_HANDSHAKE) {
		tls_step(c);
#endif
	} else if (c->st == S_READING) {
		on_readable(c);
	} else if (c->st == S_HELD) {
		on_held_event(c);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double pct(const double *v, long n, double p)
{
	if (n == 0)
		return NAN;
	long k = (long)ceil(p / 100.0 * (double)n) - 1;
	if (k < 0) k = 0;
	if (k >= n) k = n - 1;
	return v[k];
}

/* Returns the soft limit after trying to raise it to need (and the hard
 * limit with it, which only works with CAP_SYS_RESOURCE). */
static long raise_nofile(long need)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	if ((rlim_t)need > rl.rlim_cur) {
		if ((rlim_t)need > rl.rlim_max) {
			struct rlimit hi = { (rlim_t)need, (rlim_t)need };
			if (setrlimit(RLIMIT_NOFILE, &hi) == 0)
				return need;
		}
		rl.rlim_cur = (rlim_t)need < rl.rlim_max ? (rlim_t)need : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	return (long)rl.rlim_cur;
}

static void on_stop_signal(int sig)
{
	stop_sig = sig;
}

static void print_hold(const char *event, double elapsed, const char *why)
{
	long nerr = 0;
	for (int k = 0; k < K_COUNT; k++)
		nerr += errs[k];
	double p50 = NAN, p99 = NAN, pmax = NAN;
	if (ok) {
		double *s = malloc((size_t)ok * sizeof *s);
		if (s) {
			memcpy(s, lat, (size_t)ok * sizeof *s);
			qsort(s, (size_t)ok, sizeof *s, cmp_double);
			p50 = pct(s, ok, 50);
			p99 = pct(s, ok, 99);
			pmax = s[ok - 1];
			free(s);
		}
	}
	if (opt_json) {
		printf("{\"event\":\"%s\",\"port\":%d,\"want\":%ld,\"attempts\":%ld,\"echoed\":%ld,\"held\":%ld,"
		       "\"dropped\":%ld,\"errors\":%ld", event, opt_port, opt_hold, attempts, ok, held, dropped, nerr);
		for (int k = 0; k < K_COUNT; k++)
			printf(",\"%s\":%ld", kind_name[k], errs[k]);
		printf(",\"last_other_errno\":%d,\"elapsed_s\":%.4f,\"why\":\"%s\"", last_other_errno, elapsed, why);
		if (ok)
			printf(",\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}\n", p50, p99, pmax);
		else
			printf(",\"p50_ms\":null,\"p99_ms\":null,\"max_ms\":null}\n");
	} else {
		printf("event=%s port=%d want=%ld attempts=%ld echoed=%ld held=%ld dropped=%ld errors=%ld",
		       event, opt_port, opt_hold, attempts, ok, held, dropped, nerr);
		for (int k = 0; k < K_COUNT; k++)
			printf(" %s=%ld", kind_name[k], errs[k]);
		printf(" last_other_errno=%d elapsed_s=%.4f why=%s p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
		       last_other_errno, elapsed, why, p50, p99, pmax);
	}
	fflush(stdout);
	if (!opt_quiet) {
		fprintf(stderr, "%s: %ld/%ld held (%ld dropped by the server) after %.2f s (%s); errors %ld",
			event, held, opt_hold, dropped, elapsed, why, nerr);
		for (int k = 0; k < K_COUNT; k++)
			if (errs[k])
				fprintf(stderr, " %s=%ld", kind_name[k], errs[k]);
		if (last_other_errno)
			fprintf(stderr, " (other: %s)", strerror(last_other_errno));
		fprintf(stderr, "\n");
	}
}

/* -H: open opt_hold connections, keep them until a signal or the time limit. */
static int hold_loop(void)
{
	struct epoll_event evs[256];
	sigset_t block, waitmask;
	struct sigaction sa;
	double t_start = now(), t_hard = t_start + opt_tlim;
	int announced = 0;
	const char *why = "time limit";

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop_signal;   /* no SA_RESTART: epoll_pwait returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	/* signals are only taken inside epoll_pwait: no lost wake-up */
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);
	sigdelset(&waitmask, SIGHUP);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	pid_t parent = getppid();
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		stop_sig = SIGTERM;   /* the parent died before prctl */

	while (!stop_sig) {
		double t = now();
		if (t >= t_hard)
			break;
		while (inflight < opt_c && attempts < opt_hold)
			start_one();
		if (!announced && attempts == opt_hold && inflight == 0) {
			print_hold("held", t - t_start, "all settled");
			announced = 1;
		}
		t = now();
		double wake = inflight ? head->t0 + opt_ctimeout : t_hard;
		if (wake > t_hard)
			wake = t_hard;
		int wait_ms = (int)ceil((wake - t) * 1000.0);
		if (wait_ms < 0)
			wait_ms = 0;
		int n = epoll_pwait(ep, evs, 256, wait_ms, &waitmask);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("loadgen: epoll_pwait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c->st != S_FREE)
				on_event(c, evs[i].events);
		}
		t = now();
		while (head && head->t0 + opt_ctimeout <= t && t < t_hard)
			finish(head, K_TIMEOUT);
	}
	if (stop_sig)
		why = stop_sig == SIGTERM ? "SIGTERM" : stop_sig == SIGINT ? "SIGINT" : "SIGHUP";
	while (head)
		finish(head, K_ABANDONED);
	if (!announced)
		print_hold("held", now() - t_start, why);
	for (long i = 0; i < opt_hold; i++) {
		if (conns[i].st == S_HELD) {
			close(conns[i].fd);
			conns[i].fd = -1;
			conns[i].st = S_FREE;
		}
	}
	print_hold("released", now() - t_start, why);
	return 0;
}

static long parse_long(const char *s, long lo, long hi, const char *what)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi) {
		fprintf(stderr, "loadgen: bad %s '%s' (%ld..%ld)\n", what, s, lo, hi);
		exit(2);
	}
	return v;
}

static double parse_secs(const char *s, const char *what)
{
	char *end;
	double v = strtod(s, &end);
	if (*end || !(v > 0) || v > 86400) {
		fprintf(stderr, "loadgen: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	int o;
	long proxy_version = 0;
	while ((o = getopt(argc, argv, "h:p:c:n:t:T:sEV0P:qJH:S")) != -1) {
		switch (o) {
		case 'h': opt_host = optarg; break;
		case 'p': opt_port = (int)parse_long(optarg, 1, 65535, "port"); break;
		case 'c': opt_c = parse_long(optarg, 1, MAX_C, "concurrency"); break;
		case 'n': opt_n = parse_long(optarg, 1, MAX_N, "attempts"); break;
		case 't': opt_tlim = parse_secs(optarg, "time limit"); break;
		case 'T': opt_ctimeout = parse_secs(optarg, "connection timeout"); break;
		case 's': opt_shut = 1; break;
		case 'E': opt_eof = 1; break;
		case 'V': opt_verify = 1; break;
		case '0': opt_zero = 1; break;
		case 'P': proxy_version = parse_long(optarg, 1, 2, "PROXY version"); break;
		case 'q': opt_quiet = 1; break;
		case 'J': opt_json = 1; break;
		case 'H': opt_hold = parse_long(optarg, 1, MAX_C, "connections to hold"); break;
		case 'S': opt_tls = 1; break;
		default: usage();
		}
	}
	if (optind != argc || opt_port < 0)
		usage();
	if (parse_target(opt_host, opt_port) < 0) {
		fprintf(stderr, "loadgen: refusing target '%s': only 127.0.0.0/8 and ::1 are allowed\n", opt_host);
		return 2;
	}
	if (proxy_version == 1) {
		proxy_len = (size_t)snprintf(proxy_hdr, sizeof proxy_hdr, "PROXY TCP4 192.0.2.1 127.0.0.1 40000 %d\r\n", opt_port);
	} else if (proxy_version == 2) {
		static const unsigned char sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };
		unsigned char *h = (unsigned char *)proxy_hdr;
		memcpy(h, sig, 12);
		h[12] = 0x21; /* version 2, PROXY */
		h[13] = 0x11; /* TCP over IPv4 */
		h[14] = 0; h[15] = 12;
		unsigned char body[12] = { 192, 0, 2, 1, 127, 0, 0, 1, 40000 >> 8, 40000 & 0xff, (unsigned char)(opt_port >> 8), (unsigned char)(opt_port & 0xff) };
		memcpy(h + 16, body, 12);
		proxy_len = 28;
	}
	if (opt_tls && (opt_hold || opt_zero || proxy_version)) {
		fprintf(stderr, "loadgen: -S does not go with -H, -0 or -P\n");
		return 2;
	}
	if (opt_tls) {
#ifdef LOADGEN_TLS
		tls_ctx = SSL_CTX_new(TLS_client_method());
		if (!tls_ctx) {
			fprintf(stderr, "loadgen: SSL_CTX_new failed\n");
			return 1;
		}
		SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
		/* every connection a full handshake, as a new client's */
		SSL_CTX_set_session_cache_mode(tls_ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_options(tls_ctx, SSL_OP_NO_TICKET);
#else
		fprintf(stderr, "loadgen: -S: this loadgen was built without TLS (no OpenSSL headers: apt-get install libssl-dev)\n");
		return 2;
#endif
	}
	signal(SIGPIPE, SIG_IGN);
	long slots;
	if (opt_hold) {
		/* every held connection keeps its slot and its fd */
		opt_shut = opt_eof = opt_zero = 0;
		opt_verify = 1;
		opt_n = opt_hold;
		if (opt_c > opt_hold)
			opt_c = opt_hold;
		slots = opt_hold;
		long lim = raise_nofile(opt_hold + 64);
		if (lim < opt_hold + 64) {
			fprintf(stderr, "loadgen: -H %ld needs %ld open files, RLIMIT_NOFILE is %ld (raise ulimit -n)\n",
				opt_hold, opt_hold + 64, lim);
			return 2;
		}
	} else {
		if (opt_c > opt_n)
			opt_c = opt_n;
		slots = opt_c;
		raise_nofile(opt_c + 32);
	}

	conns = calloc((size_t)slots, sizeof *conns);
	lat = malloc((size_t)opt_n * sizeof *lat);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!conns || !lat || ep < 0) {
		perror("loadgen: setup");
		return 1;
	}
	for (long i = slots - 1; i >= 0; i--) {
		conns[i].fd = -1;
		conns[i].next = free_list;
		free_list = &conns[i];
	}
	if (opt_hold)
		return hold_loop();

	struct epoll_event evs[256];
	double t_start = now();
	double t_hard = t_start + opt_tlim;
	int hit_limit = 0;

	for (;;) {
		double t = now();
		if (t >= t_hard) {
			if (inflight > 0 || attempts < opt_n)
				hit_limit = 1;
			while (head)
				finish(head, K_ABANDONED);
			break;
		}
		while (inflight < opt_c && attempts < opt_n)
			start_one();
		if (inflight == 0)
			break;   /* all N attempts done */

		/* the oldest connection has the nearest per-connection deadline */
		t = now();
		double wake = head->t0 + opt_ctimeout;
		if (wake > t_hard)
			wake = t_hard;
		int wait_ms = (int)ceil((wake - t) * 1000.0);
		if (wait_ms < 0)
			wait_ms = 0;

		int n = epoll_wait(ep, evs, 256, wait_ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("loadgen: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			/* a slot finished earlier in this batch cannot get a new
			 * fd before the batch ends, so a free slot means stale */
			if (c->st != S_FREE)
				on_event(c, evs[i].events);
		}
		t = now();
		while (head && head->t0 + opt_ctimeout <= t && t < t_hard)
			finish(head, K_TIMEOUT);
	}

	double elapsed = now() - t_start;
	if (hit_limit && elapsed > opt_tlim)
		elapsed = opt_tlim;

	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu_user = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
	double cpu_sys = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;

	double mean = 0;
	for (long i = 0; i < ok; i++)
		mean += lat[i];
	if (ok)
		mean /= (double)ok;
	qsort(lat, (size_t)ok, sizeof *lat, cmp_double);
	double p50 = pct(lat, ok, 50), p90 = pct(lat, ok, 90), p99 = pct(lat, ok, 99);
	double pmax = ok ? lat[ok - 1] : NAN;
	long nerr = 0;
	for (int k = 0; k < K_COUNT; k++)
		nerr += errs[k];
	double cps = elapsed > 0 ? (double)ok / elapsed : 0;
	const char *mode = opt_zero ? "connect-close" : "echo";

	if (opt_json) {
		printf("{\"port\":%d,\"conc\":%ld,\"n\":%ld,\"tlim_s\":%g,\"mode\":\"%s\",\"verify\":%s,"
		       "\"attempts\":%ld,\"ok\":%ld,\"errors\":%ld",
		       opt_port, opt_c, opt_n, opt_tlim, mode, opt_verify ? "true" : "false",
		       attempts, ok, nerr);
		for (int k = 0; k < K_COUNT; k++)
			printf(",\"%s\":%ld", kind_name[k], errs[k]);
		printf(",\"last_other_errno\":%d,\"time_limit_hit\":%s,\"elapsed_s\":%.4f,\"conn_per_s\":%.1f",
		       last_other_errno, hit_limit ? "true" : "false", elapsed, cps);
		if (ok)
			printf(",\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"mean_ms\":%.3f",
			       p50, p90, p99, pmax, mean);
		else
			printf(",\"p50_ms\":null,\"p90_ms\":null,\"p99_ms\":null,\"max_ms\":null,\"mean_ms\":null");
		printf(",\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,\"cpu_s\":%.3f}\n", cpu_user, cpu_sys, cpu_user + cpu_sys);
	} else {
		printf("port=%d conc=%ld n=%ld tlim_s=%g mode=%s verify=%d attempts=%ld ok=%ld errors=%ld",
		       opt_port, opt_c, opt_n, opt_tlim, mode, opt_verify, attempts, ok, nerr);
		for (int k = 0; k < K_COUNT; k++)
			printf(" %s=%ld", kind_name[k], errs[k]);
		printf(" last_other_errno=%d time_limit_hit=%d elapsed_s=%.4f conn_per_s=%.1f"
		       " p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f mean_ms=%.3f"
		       " cpu_user_s=%.3f cpu_sys_s=%.3f cpu_s=%.3f\n",
		       last_other_errno, hit_limit, elapsed, cps, p50, p90, p99, pmax, mean,
		       cpu_user, cpu_sys, cpu_user + cpu_sys);
	}
	if (!opt_quiet) {
		fprintf(stderr, "%ld/%ld ok in %.2f s = %.0f conn/s; p50 %.2f p99 %.2f max %.2f ms; errors %ld",
			ok, attempts, elapsed, cps, p50, p99, pmax, nerr);
		for (int k = 0; k < K_COUNT; k++)
			if (errs[k])
				fprintf(stderr, " %s=%ld", kind_name[k], errs[k]);
		if (last_other_errno)
			fprintf(stderr, " (other: %s)", strerror(last_other_errno));
		fprintf(stderr, "%s; client CPU %.2f s\n", hit_limit ? " [time limit]" : "", cpu_user + cpu_sys);
	}
	return 0;
}
