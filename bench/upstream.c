// SPDX-License-Identifier: MIT
/*
 * upstream: a fast HTTP CONNECT proxy, so that the redirector under test
 * rather than the proxy is the bottleneck.
 *
 * One thread, level-triggered epoll, non-blocking splice() through one pipe
 * per direction: no copy to user space and no thread per connection. Accepts
 * only "CONNECT a.b.c.d:port HTTP/1.x" and passes half-close through (unlike
 * Squid, which ends the tunnel).
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
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK (1 << 20)
#define REQ_MAX 4096

static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";

enum state { READ_REQUEST, CONNECTING, RELAY };

/* One direction of a tunnel: bytes wait in the pipe until `to` takes them. */
struct half {
	int from;
	int to;
	int pipe[2];
	size_t queued;
	bool eof;
	bool done;
	bool want_in;
	bool want_out;
};

struct tunnel {
	enum state state;
	int client;
	int origin;
	unsigned int client_ev;
	unsigned int origin_ev;
	struct half up;
	struct half down;
	struct tunnel *next_dead;
	bool is_dead;
	size_t req_len;
	char req[REQ_MAX + 1];
};

static int ep;
static struct tunnel *dead;

/* Events on the origin's fd carry the tunnel pointer with its low bit set. */
#define ORIGIN_TAG(t) ((void *)((uintptr_t)(t) | 1))

static void tunnel_free(struct tunnel *t)
{
	struct half *h[] = { &t->up, &t->down };

	for (int i = 0; i < 2; i++) {
		if (h[i]->pipe[0] >= 0) {
			close(h[i]->pipe[0]);
			close(h[i]->pipe[1]);
		}
	}
	/* close() also drops the fds from the epoll set. */
	close(t->client);
	if (t->origin >= 0)
		close(t->origin);
	free(t);
}

static int watch(int fd, unsigned int *cur, unsigned int want, void *ptr)
{
	struct epoll_event ev = { .events = want, .data.ptr = ptr };

	if (*cur == want)
		return 0;
	*cur = want;
	return epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

/* Moves what it can; 0 when waiting, -1 on error. */
static int pump(struct half *h)
{
	h->want_in = h->want_out = false;
	while (!h->done) {
		if (h->queued) {
			ssize_t n = splice(h->pipe[0], NULL, h->to, NULL,
					   h->queued,
					   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

			if (n < 0 && errno == EAGAIN) {
				h->want_out = true;
				return 0;
			}
			if (n <= 0)
				return -1;
			h->queued -= n;
		} else if (h->eof) {
			shutdown(h->to, SHUT_WR);
			h->done = true;
		} else {
			ssize_t n = splice(h->from, NULL, h->pipe[1], NULL,
					   CHUNK,
					   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

			if (n < 0 && errno == EAGAIN) {
				h->want_in = true;
				return 0;
			}
			if (n < 0)
				return -1;
			if (n == 0)
				h->eof = true;
			h->queued += n;
		}
	}
	return 0;
}

static int relay(struct tunnel *t)
{
	unsigned int cev, oev;

	if (pump(&t->up) || pump(&t->down))
		return -1;
	if (t->up.done && t->down.done)
		return -1;
	cev = (t->up.want_in ? EPOLLIN : 0) | (t->down.want_out ? EPOLLOUT : 0);
	oev = (t->down.want_in ? EPOLLIN : 0) | (t->up.want_out ? EPOLLOUT : 0);
	if (watch(t->client, &t->client_ev, cev, t) ||
	    watch(t->origin, &t->origin_ev, oev, ORIGIN_TAG(t)))
		return -1;
	return 0;
}

static int start_connect(struct tunnel *t)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = ORIGIN_TAG(t) };
	char host[64];
	unsigned int port;
	int one = 1;

	if (sscanf(t->req, "CONNECT %63[0-9.]:%u HTTP/1.", host, &port) != 2 ||
	    inet_pton(AF_INET, host, &sa.sin_addr) != 1 || port > 65535)
		return -1;
	sa.sin_port = htons(port);
	t->origin = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			   0);
	if (t->origin < 0)
		return -1;
	setsockopt(t->origin, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(t->origin, (struct sockaddr *)&sa, sizeof(sa)) &&
	    errno != EINPROGRESS)
		return -1;
	t->origin_ev = EPOLLOUT;
	t->state = CONNECTING;
	/* Nothing more from the client until the origin answers. */
	return watch(t->client, &t->client_ev, 0, t) ||
	       epoll_ctl(ep, EPOLL_CTL_ADD, t->origin, &ev);
}

static int read_request(struct tunnel *t)
{
	ssize_t n = read(t->client, t->req + t->req_len, REQ_MAX - t->req_len);

	if (n < 0 && errno == EAGAIN)
		return 0;
	if (n <= 0)
		return -1;
	t->req_len += n;
	t->req[t->req_len] = '\0';
	if (strstr(t->req, "\r\n\r\n"))
		return start_connect(t);
	return t->req_len == REQ_MAX ? -1 : 0;
}

static int connected(struct tunnel *t)
{
	char *body = strstr(t->req, "\r\n\r\n") + 4;
	size_t extra = t->req + t->req_len - body;
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(t->origin, SOL_SOCKET, SO_ERROR, &err, &len) || err)
		return -1;
	if (pipe2(t->up.pipe, O_CLOEXEC | O_NONBLOCK) ||
	    pipe2(t->down.pipe, O_CLOEXEC | O_NONBLOCK))
		return -1;
	/* Small writes to fresh sockets: they fit in the send buffers. */
	if (write(t->client, ok, sizeof(ok) - 1) != sizeof(ok) - 1)
		return -1;
	if (extra && write(t->origin, body, extra) != (ssize_t)extra)
		return -1;
	t->up = (struct half){ .from = t->client, .to = t->origin,
			       .pipe = { t->up.pipe[0], t->up.pipe[1] } };
	t->down = (struct half){ .from = t->origin, .to = t->client,
				 .pipe = { t->down.pipe[0], t->down.pipe[1] } };
	t->state = RELAY;
	return relay(t);
}

static void accept_all(int lfd)
{
	for (;;) {
		struct epoll_event ev = { .events = EPOLLIN };
		struct tunnel *t;
		int one = 1;
		int fd = accept4(lfd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		t = malloc(sizeof(*t));
		if (!t) {
			close(fd);
			continue;
		}
		memset(t, 0, offsetof(struct tunnel, req));
		t->client = fd;
		t->origin = -1;
		t->up.pipe[0] = t->down.pipe[0] = -1;
		t->client_ev = EPOLLIN;
		t->req[0] = '\0';
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		ev.data.ptr = t;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
			tunnel_free(t);
	}
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
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	struct epoll_event evs[256];
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
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 4096)) {
		perror("upstream: cannot listen");
		return 1;
	}
	if (argc == 4 && drop_to(argv[3])) {
		fprintf(stderr, "upstream: cannot become user %s\n", argv[3]);
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev)) {
		perror("upstream: epoll");
		return 1;
	}
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);

		for (int i = 0; i < n; i++) {
			uintptr_t v = (uintptr_t)evs[i].data.ptr;
			struct tunnel *t = (struct tunnel *)(v & ~(uintptr_t)1);
			int ret = 0;

			if (!t) {
				accept_all(lfd);
				continue;
			}
			/* Freed only after the batch: later events may name it. */
			if (t->is_dead)
				continue;
			switch (t->state) {
			case READ_REQUEST:
				ret = read_request(t);
				break;
			case CONNECTING:
				if (v & 1)
					ret = connected(t);
				else if (evs[i].events & (EPOLLERR | EPOLLHUP))
					ret = -1;
				break;
			case RELAY:
				ret = relay(t);
				break;
			}
			if (ret) {
				t->is_dead = true;
				t->next_dead = dead;
				dead = t;
			}
		}
		while (dead) {
			struct tunnel *t = dead;

			dead = t->next_dead;
			tunnel_free(t);
		}
	}
}
