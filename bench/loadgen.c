// SPDX-License-Identifier: MIT
/*
 * loadgen: the benchmark client. Cheap enough that the redirector, not the
 * client, is the bottleneck. Talks to bench/origin.c (see its header for the
 * protocol) and prints one JSON object on stdout.
 *
 * Usage: loadgen [-p PROXY_IP:PORT] MODE TARGET_IP:PORT ARGS...
 *   up    TARGET BYTES        single-stream upload
 *   down  TARGET BYTES        single-stream download
 *   conns TARGET COUNT CONC   short request/response connections
 *   idle  TARGET COUNT        open COUNT echo tunnels, print a ready line,
 *                             hold them until stdin reaches EOF or a line
 *   rtt   TARGET COUNT        one-byte round trips on one echo tunnel
 *
 * Without -p it connects to TARGET and lets the REDIRECT rule catch it; with
 * -p it speaks CONNECT to the proxy itself (the direct path).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE (256 * 1024)
#define REQ_SIZE 64

static struct sockaddr_in target, proxy;
static const char *target_str;
static int use_proxy;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU seconds of this process, all threads: shows the client is cheap. */
static double cpu_secs(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static int parse_addr(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	unsigned int port;

	if (sscanf(s, "%63[0-9.]:%u", host, &port) != 2 || port > 65535)
		return -1;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(port);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

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

/* Reads the proxy's reply head; the origin says nothing before we do. */
static int read_connect_reply(int fd)
{
	char buf[1024];
	size_t len = 0;

	while (len < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (n <= 0)
			return -1;
		len += n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			return strncmp(buf + 8, " 200", 4) ? -1 : 0;
	}
	return -1;
}

/* Opens a connection that ends at the origin; -1 on failure. */
static int open_conn(void)
{
	const struct sockaddr_in *sa = use_proxy ? &proxy : &target;
	int one = 1;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)))
		goto fail;
	if (use_proxy) {
		char req[256];
		int n = snprintf(req, sizeof(req),
				 "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n",
				 target_str, target_str);

		if (write_full(fd, req, n) || read_connect_reply(fd))
			goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

static void header(unsigned char *hdr, char mode, uint64_t n)
{
	hdr[0] = mode;
	for (int i = 1; i <= 8; i++, n >>= 8)
		hdr[i] = n & 0xff;
}

static int cmd_up(uint64_t bytes)
{
	unsigned char hdr[9];
	uint64_t left = bytes;
	char *buf = malloc(BUF_SIZE);
	double t0, t1;
	char ack;
	int fd;

	memset(buf, 'u', BUF_SIZE);
	fd = open_conn();
	if (fd < 0)
		return -1;
	header(hdr, 'U', bytes);
	t0 = now();
	if (write_full(fd, hdr, sizeof(hdr)))
		return -1;
	while (left) {
		size_t chunk = left < BUF_SIZE ? left : BUF_SIZE;

		if (write_full(fd, buf, chunk))
			return -1;
		left -= chunk;
	}
	if (read_full(fd, &ack, 1))
		return -1;
	t1 = now();
	close(fd);
	printf("{\"bytes\":%llu,\"secs\":%.6f,\"cpu_s\":%.3f}\n",
	       (unsigned long long)bytes, t1 - t0, cpu_secs());
	return 0;
}

static int cmd_down(uint64_t bytes)
{
	unsigned char hdr[9];
	uint64_t left = bytes;
	char *buf = malloc(BUF_SIZE);
	double t0, t1;
	int fd;

	fd = open_conn();
	if (fd < 0)
		return -1;
	header(hdr, 'D', bytes);
	t0 = now();
	if (write_full(fd, hdr, sizeof(hdr)))
		return -1;
	while (left) {
		ssize_t n = read(fd, buf, left < BUF_SIZE ? left : BUF_SIZE);

		if (n <= 0)
			return -1;
		left -= n;
	}
	t1 = now();
	close(fd);
	printf("{\"bytes\":%llu,\"secs\":%.6f,\"cpu_s\":%.3f}\n",
	       (unsigned long long)bytes, t1 - t0, cpu_secs());
	return 0;
}

static atomic_int conns_next, conns_failed;
static int conns_total;

static int one_conn(void)
{
	unsigned char msg[9 + REQ_SIZE];
	char buf[REQ_SIZE + 1];
	int fd = open_conn();
	int ret = -1;

	if (fd < 0)
		return -1;
	header(msg, 'R', REQ_SIZE);
	memset(msg + 9, 'r', REQ_SIZE);
	if (write_full(fd, msg, sizeof(msg)) || read_full(fd, buf, REQ_SIZE))
		goto out;
	/* The origin closes first; wait for it so the connection is done. */
	if (read(fd, buf, 1) == 0)
		ret = 0;
out:
	close(fd);
	return ret;
}

static void *conns_worker(void *arg)
{
	(void)arg;
	while (atomic_fetch_add(&conns_next, 1) < conns_total)
		if (one_conn())
			atomic_fetch_add(&conns_failed, 1);
	return NULL;
}

static int cmd_conns(int count, int conc)
{
	pthread_t *th = calloc(conc, sizeof(*th));
	double t0, t1;

	conns_total = count;
	t0 = now();
	for (int i = 0; i < conc; i++)
		pthread_create(&th[i], NULL, conns_worker, NULL);
	for (int i = 0; i < conc; i++)
		pthread_join(th[i], NULL);
	t1 = now();
	printf("{\"conns\":%d,\"failed\":%d,\"secs\":%.6f,\"cpu_s\":%.3f}\n",
	       count, atomic_load(&conns_failed), t1 - t0, cpu_secs());
	return 0;
}

static int open_echo(void)
{
	unsigned char hdr[10];
	char c;
	int fd = open_conn();

	if (fd < 0)
		return -1;
	/* Header plus one byte: the echo proves the tunnel is end to end. */
	header(hdr, 'E', 0);
	hdr[9] = 'p';
	if (write_full(fd, hdr, sizeof(hdr)) || read_full(fd, &c, 1)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int cmd_idle(int count)
{
	int *fds = calloc(count, sizeof(*fds));
	char line[16];
	int opened = 0;
	double t0 = now();

	for (int i = 0; i < count; i++) {
		fds[i] = open_echo();
		if (fds[i] >= 0)
			opened++;
	}
	printf("{\"tunnels\":%d,\"failed\":%d,\"secs\":%.6f}\n", opened,
	       count - opened, now() - t0);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		line[0] = '\0';
	for (int i = 0; i < count; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int cmd_rtt(int count)
{
	double *rtt = calloc(count, sizeof(*rtt));
	double sum = 0;
	char c = 'p';
	int fd = open_echo();

	if (fd < 0 || !rtt)
		return -1;
	/* Warm up the path before timing. */
	for (int i = 0; i < 100; i++)
		if (write_full(fd, &c, 1) || read_full(fd, &c, 1))
			return -1;
	for (int i = 0; i < count; i++) {
		double t0 = now();

		if (write_full(fd, &c, 1) || read_full(fd, &c, 1))
			return -1;
		rtt[i] = (now() - t0) * 1e6;
		sum += rtt[i];
	}
	close(fd);
	qsort(rtt, count, sizeof(*rtt), cmp_double);
	printf("{\"count\":%d,\"p50_us\":%.2f,\"p99_us\":%.2f,\"mean_us\":%.2f}\n",
	       count, rtt[count / 2], rtt[(int)(count * 0.99)], sum / count);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode;
	int ret = -1;

	signal(SIGPIPE, SIG_IGN);
	if (argc > 2 && !strcmp(argv[1], "-p")) {
		if (parse_addr(argv[2], &proxy)) {
			fprintf(stderr, "loadgen: bad proxy %s\n", argv[2]);
			return 2;
		}
		use_proxy = 1;
		argc -= 2;
		argv += 2;
	}
	if (argc < 4 || parse_addr(argv[2], &target)) {
		fprintf(stderr, "usage: loadgen [-p PROXY] MODE TARGET ARGS...\n");
		return 2;
	}
	mode = argv[1];
	target_str = argv[2];
	if (!strcmp(mode, "up"))
		ret = cmd_up(strtoull(argv[3], NULL, 10));
	else if (!strcmp(mode, "down"))
		ret = cmd_down(strtoull(argv[3], NULL, 10));
	else if (!strcmp(mode, "conns") && argc == 5)
		ret = cmd_conns(atoi(argv[3]), atoi(argv[4]));
	else if (!strcmp(mode, "idle"))
		ret = cmd_idle(atoi(argv[3]));
	else if (!strcmp(mode, "rtt"))
		ret = cmd_rtt(atoi(argv[3]));
	else
		fprintf(stderr, "loadgen: unknown mode %s\n", mode);
	if (ret)
		fprintf(stderr, "loadgen: %s %s failed: %s\n", mode, target_str,
			strerror(errno));
	return ret ? 1 : 0;
}
