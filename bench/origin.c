// SPDX-License-Identifier: MIT
/*
 * origin: the far end of every benchmark connection.
 *
 * Listens on 0.0.0.0:PORT, one thread per connection. Each connection opens
 * with a 9-byte header, a mode byte and a little-endian u64 argument:
 *   'U' n  sink n bytes, then answer one byte (the upload is complete)
 *   'D' n  source n bytes
 *   'E' -  echo until EOF
 *   'R' n  read an n-byte request, answer n bytes and close first, so the
 *          TIME_WAIT state stays on the server side of every hop
 *
 * Usage: origin PORT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE (256 * 1024)

static char source_buf[BUF_SIZE];

static int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

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

static void drain(int fd, char *buf)
{
	while (read(fd, buf, BUF_SIZE) > 0)
		;
}

static void *serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	unsigned char hdr[9];
	uint64_t n = 0;
	char *buf;
	int one = 1;

	buf = malloc(BUF_SIZE);
	if (!buf)
		goto out;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (read_full(fd, hdr, sizeof(hdr)))
		goto out;
	for (int i = 8; i >= 1; i--)
		n = n << 8 | hdr[i];

	switch (hdr[0]) {
	case 'U':
		while (n) {
			ssize_t r = read(fd, buf, n < BUF_SIZE ? n : BUF_SIZE);

			if (r <= 0)
				goto out;
			n -= r;
		}
		if (write_full(fd, "k", 1))
			goto out;
		drain(fd, buf);
		break;
	case 'D':
		while (n) {
			size_t chunk = n < BUF_SIZE ? n : BUF_SIZE;

			if (write_full(fd, source_buf, chunk))
				goto out;
			n -= chunk;
		}
		drain(fd, buf);
		break;
	case 'E':
		for (;;) {
			ssize_t r = read(fd, buf, BUF_SIZE);

			if (r <= 0 || write_full(fd, buf, r))
				break;
		}
		break;
	case 'R':
		if (n > BUF_SIZE || read_full(fd, buf, n) ||
		    write_full(fd, buf, n))
			goto out;
		break;
	}
out:
	free(buf);
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	pthread_attr_t attr;
	int one = 1;
	int lfd;

	if (argc != 2) {
		fprintf(stderr, "usage: origin PORT\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	memset(source_buf, 'x', sizeof(source_buf));
	sa.sin_port = htons(atoi(argv[1]));
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 4096)) {
		perror("origin: cannot listen");
		return 1;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		pthread_t t;
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			continue;
		if (pthread_create(&t, &attr, serve, (void *)(intptr_t)fd))
			close(fd);
	}
}
