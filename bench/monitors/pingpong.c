// SPDX-License-Identifier: GPL-2.0-only
/*
 * Pipe ping-pong: two processes pass one byte back and forth N times, so nearly all the time is
 * wakeups and context switches (what the runq monitor hooks). Prints nanoseconds per round trip.
 *   pingpong [-n ROUNDS] [-c CPU] [-x CPU]
 * -c pins the parent (and, without -x, the child) to CPU: on one CPU every wakeup is a switch;
 * -x pins the child to another CPU: every wakeup crosses CPUs (an IPI, and the idle loop).
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		perror("sched_setaffinity");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	long rounds = 200000;
	int cpu = -1, child_cpu = -1, a[2], b[2], c;
	struct timespec t0, t1;
	char byte = 0;
	pid_t child;

	while ((c = getopt(argc, argv, "n:c:x:")) != -1) {
		if (c == 'n')
			rounds = atol(optarg);
		else if (c == 'c')
			cpu = atoi(optarg);
		else if (c == 'x')
			child_cpu = atoi(optarg);
		else
			return 2;
	}
	if (pipe(a) || pipe(b)) {
		perror("pipe");
		return 1;
	}
	pin(cpu);
	child = fork();
	if (child < 0) {
		perror("fork");
		return 1;
	}
	if (child == 0) {
		pin(child_cpu);
		for (long i = 0; i < rounds; i++)
			if (read(a[0], &byte, 1) != 1 || write(b[1], &byte, 1) != 1)
				_exit(1);
		_exit(0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < rounds; i++)
		if (write(a[1], &byte, 1) != 1 || read(b[0], &byte, 1) != 1) {
			perror("ping");
			return 1;
		}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	waitpid(child, NULL, 0);
	printf("%.1f\n", ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / rounds);
	return 0;
}
