/*
 * bench_delay: a network's latency between a PKCS#11 client and its
 * server, for `make bench`.  Listens on the unix socket LISTEN; for each
 * connection (a child process each) connects to the unix socket TARGET
 * and relays both ways, holding every message MS milliseconds before
 * passing it on.  A message is what one side wrote before waiting for the
 * answer: after the first bytes arrive and the delay has passed,
 * everything that has arrived meanwhile goes on together, so a request
 * written in two pieces (p11-kit's RPC writes a header and a body) still
 * pays the delay once, and a call's round trip pays it twice.
 *
 *   bench_delay LISTEN TARGET MS
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static void addr(struct sockaddr_un *a, const char *path)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path)) {
		fprintf(stderr, "bench_delay: socket path too long: %s\n", path);
		exit(2);
	}
	strcpy(a->sun_path, path);
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Relays from one side to the other, with the delay, until either side closes. */
static void relay(int a, int b, long ms)
{
	static char buf[1 << 20];
	struct timespec d = { ms / 1000, (ms % 1000) * 1000000L };
	struct pollfd p[2] = { { a, POLLIN, 0 }, { b, POLLIN, 0 } };

	for (;;) {
		int i;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		for (i = 0; i < 2; i++) {
			size_t n = 0;
			ssize_t r;

			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			nanosleep(&d, NULL);
			/* Everything the sender wrote meanwhile travels as the same message. */
			while (n < sizeof(buf) && (r = recv(p[i].fd, buf + n, sizeof(buf) - n, MSG_DONTWAIT)) > 0)
				n += (size_t)r;
			if (n == 0 || write_all(p[1 - i].fd, buf, n) != 0)
				return;
		}
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_un la, ta;
	long ms;
	int ls;

	if (argc != 4) {
		fprintf(stderr, "usage: bench_delay LISTEN TARGET MS\n");
		return 2;
	}
	ms = strtol(argv[3], NULL, 10);
	addr(&la, argv[1]);
	addr(&ta, argv[2]);
	signal(SIGCHLD, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	unlink(argv[1]);
	if ((ls = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 || bind(ls, (struct sockaddr *)&la, sizeof(la)) != 0 ||
	    listen(ls, 16) != 0) {
		perror("bench_delay: listen");
		return 1;
	}
	for (;;) {
		int c = accept(ls, NULL, NULL), t;

		if (c < 0) {
			if (errno == EINTR)
				continue;
			perror("bench_delay: accept");
			return 1;
		}
		if (fork() == 0) {
			close(ls);
			if ((t = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 || connect(t, (struct sockaddr *)&ta, sizeof(ta)) != 0) {
				perror("bench_delay: connect");
				_exit(1);
			}
			relay(c, t, ms);
			_exit(0);
		}
		close(c);
	}
}
