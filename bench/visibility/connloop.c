// SPDX-License-Identifier: GPL-2.0-only
/*
 * connloop [-s SECONDS | -n COUNT] [-a ADDR] [-p PORT]: a TCP server thread accepts, reads one
 * byte and closes; the main thread connects, sends a byte, waits for the close and closes, as
 * fast as it can for SECONDS (or COUNT connections). Prints connections per second and the CPU
 * time the process took per connection in microseconds (both ends are this process). The
 * visibility benchmark's short connections; -n gives per_conn.sh an exact count.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int listener;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *serve(void *arg)
{
	for (;;) {
		int c = accept(listener, NULL, NULL);
		char b;

		if (c < 0)
			continue;
		if (read(c, &b, 1) < 0)
			perror("read");
		close(c);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	const char *addr = "127.0.0.1";
	double seconds = 3, end, start;
	struct linger lg = { 1, 0 };
	int port = 9900, c, one = 1;
	long n = 0, count = 0;
	pthread_t t;

	while ((c = getopt(argc, argv, "s:n:a:p:")) != -1) {
		switch (c) {
		case 's': seconds = atof(optarg); break;
		case 'n': count = atol(optarg); break;
		case 'a': addr = optarg; break;
		case 'p': port = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: connloop [-s SECONDS | -n COUNT] [-a ADDR] [-p PORT]\n");
			return 2;
		}
	}
	a.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &a.sin_addr) != 1)
		return 2;
	listener = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(listener, (struct sockaddr *)&a, sizeof(a)) || listen(listener, 4096)) {
		perror("connloop: listen");
		return 1;
	}
	pthread_create(&t, NULL, serve, NULL);
	start = now();
	end = start + seconds;
	while (count ? n < count : now() < end) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		char b = 'x';

		/* A reset instead of TIME_WAIT, so the loop does not run out of ports. */
		setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		if (connect(s, (struct sockaddr *)&a, sizeof(a)) || write(s, &b, 1) != 1 || read(s, &b, 1) < 0) {
			perror("connloop: connect");
			return 1;
		}
		close(s);
		n++;
	}
	{
		struct rusage ru;
		double us;

		getrusage(RUSAGE_SELF, &ru);
		us = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
		printf("%.1f %.2f\n", (double)n / (now() - start), n ? us / (double)n : 0);
	}
	return 0;
}
