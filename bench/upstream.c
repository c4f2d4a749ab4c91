// SPDX-License-Identifier: MIT
/*
 * upstream: a fast HTTP CONNECT proxy, so that the redirector under test
 * rather than the proxy is the bottleneck.
 *
 * One thread per direction, blocking splice() through a pipe: no copy to
 * user space. Accepts only "CONNECT a.b.c.d:port HTTP/1.x" and passes
 * half-close through (unlike Squid, which ends the tunnel).
 *
 * Usage: upstream HOST PORT [USER]
 * After binding it drops to USER, so that an iptables "-m owner ! --uid-owner"
 * rule can exclude its own outgoing connections from the REDIRECT.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK (1 << 20)

struct tunnel {
	int client;
	int origin;
	atomic_int done;
};

struct pump {
	struct tunnel *t;
	int from;
	int to;
};

static pthread_attr_t attr;
static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";

static int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

static void tunnel_put(struct tunnel *t)
{
	/* The second direction to finish closes both sockets. */
	if (atomic_fetch_add(&t->done, 1) == 1) {
		close(t->client);
		close(t->origin);
		free(t);
	}
}

static void *pump(void *arg)
{
	struct pump *p = arg;
	int pfd[2];

	if (pipe2(pfd, O_CLOEXEC))
		goto out;
	for (;;) {
		ssize_t n = splice(p->from, NULL, pfd[1], NULL, CHUNK,
				   SPLICE_F_MOVE);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		while (n > 0) {
			ssize_t m = splice(pfd[0], NULL, p->to, NULL, n,
					   SPLICE_F_MOVE);

			if (m < 0 && errno == EINTR)
				continue;
			if (m <= 0)
				goto closed;
			n -= m;
		}
	}
	shutdown(p->to, SHUT_WR);
closed:
	close(pfd[0]);
	close(pfd[1]);
out:
	/* Unblock the other direction if this one failed. */
	shutdown(p->from, SHUT_RD);
	tunnel_put(p->t);
	free(p);
	return NULL;
}

static int open_origin(const char *req, int *out)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char host[64];
	unsigned int port;
	int one = 1;
	int fd;

	if (sscanf(req, "CONNECT %63[0-9.]:%u HTTP/1.", host, &port) != 2 ||
	    inet_pton(AF_INET, host, &sa.sin_addr) != 1 || port > 65535)
		return 400;
	sa.sin_port = htons(port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 503;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return 502;
	}
	*out = fd;
	return 200;
}

static void *serve(void *arg)
{
	int client = (int)(intptr_t)arg;
	char req[4097];
	size_t len = 0;
	char *end = NULL;
	struct tunnel *t;
	struct pump *up, *down;
	pthread_t th;
	int origin = -1;
	int status;
	int one = 1;

	setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	while (!end && len < sizeof(req) - 1) {
		ssize_t n = read(client, req + len, sizeof(req) - 1 - len);

		if (n <= 0)
			goto fail;
		len += n;
		req[len] = '\0';
		end = strstr(req, "\r\n\r\n");
	}
	if (!end)
		goto fail;
	status = open_origin(req, &origin);
	if (status != 200) {
		dprintf(client, "HTTP/1.1 %d Error\r\nContent-Length: 0\r\n\r\n",
			status);
		goto fail;
	}
	if (write_full(client, ok, sizeof(ok) - 1))
		goto fail;
	/* Bytes the client sent after the request head. */
	end += 4;
	if (end < req + len && write_full(origin, end, req + len - end))
		goto fail;

	t = calloc(1, sizeof(*t));
	up = calloc(1, sizeof(*up));
	down = calloc(1, sizeof(*down));
	if (!t || !up || !down) {
		free(t);
		free(up);
		free(down);
		goto fail;
	}
	t->client = client;
	t->origin = origin;
	*up = (struct pump){ t, client, origin };
	*down = (struct pump){ t, origin, client };
	if (pthread_create(&th, &attr, pump, up)) {
		free(t);
		free(up);
		free(down);
		goto fail;
	}
	pump(down);
	return NULL;
fail:
	if (origin >= 0)
		close(origin);
	close(client);
	return NULL;
}

static int drop_to(const char *user)
{
	struct passwd *pw = getpwnam(user);

	if (!pw)
		return -1;
	if (setgroups(0, NULL) || setgid(pw->pw_gid) || setuid(pw->pw_uid))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int one = 1;
	int lfd;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: upstream HOST PORT [USER]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
		fprintf(stderr, "upstream: bad address %s\n", argv[1]);
		return 2;
	}
	sa.sin_port = htons(atoi(argv[2]));
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 4096)) {
		perror("upstream: cannot listen");
		return 1;
	}
	if (argc == 4 && drop_to(argv[3])) {
		fprintf(stderr, "upstream: cannot become user %s\n", argv[3]);
		return 1;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		pthread_t t;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0)
			continue;
		if (pthread_create(&t, &attr, serve, (void *)(intptr_t)fd))
			close(fd);
	}
}
