// SPDX-License-Identifier: GPL-2.0-only
/*
 * forkexec [-p WORKERS] [-s SECONDS] [-x PROGRAM]: WORKERS processes each fork, exec PROGRAM
 * (default /bin/true) and wait for it, for SECONDS; prints the processes run per second (all
 * workers together) and the CPU time the whole tree took per process, in microseconds (user and
 * system, ours and our descendants'). The visibility benchmark's fork+exec loop.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this process and every descendant it (or they) waited for, in microseconds. */
static double cpu_us(void)
{
	struct rusage self, kids;

	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	return (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec + kids.ru_stime.tv_sec) * 1e6 +
	       (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec + kids.ru_utime.tv_usec + kids.ru_stime.tv_usec);
}

static long work(double until, const char *prog)
{
	char *const argv[] = { (char *)prog, NULL };
	long n = 0;

	while (now() < until) {
		pid_t pid = fork();
		int status;

		if (pid == 0) {
			execv(prog, argv);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "forkexec: %s failed\n", prog);
			exit(1);
		}
		n++;
	}
	return n;
}

int main(int argc, char **argv)
{
	int workers = 1, c;
	double seconds = 3, start, end;
	const char *prog = "/bin/true";
	long *counts, total = 0;

	while ((c = getopt(argc, argv, "p:s:x:")) != -1) {
		switch (c) {
		case 'p': workers = atoi(optarg); break;
		case 's': seconds = atof(optarg); break;
		case 'x': prog = optarg; break;
		default:
			fprintf(stderr, "usage: forkexec [-p WORKERS] [-s SECONDS] [-x PROGRAM]\n");
			return 2;
		}
	}
	if (workers < 1 || seconds <= 0)
		return 2;
	counts = mmap(NULL, sizeof(long) * (size_t)workers, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (counts == MAP_FAILED)
		return 1;
	start = now();
	end = start + seconds;
	for (int w = 0; w < workers; w++) {
		pid_t pid = fork();

		if (pid == 0) {
			counts[w] = work(end, prog);
			_exit(0);
		}
	}
	while (wait(NULL) > 0 || errno == EINTR)
		;
	for (int w = 0; w < workers; w++)
		total += counts[w];
	printf("%.1f %.1f\n", (double)total / (now() - start), total ? cpu_us() / (double)total : 0);
	return 0;
}
