/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Small rtnetlink helpers (veth pairs, link up/down, ifindex) and a way to run a function in a
 * child process that lives in fresh namespaces, so that whatever it creates there (interfaces,
 * qdiscs, mounts) disappears with the child, even when it crashes.
 */
#ifndef AEGIS_NETNS_H
#define AEGIS_NETNS_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/* An rtnetlink socket of the calling thread's network namespace: fd, or -errno. */
int rtnl_open(void);

/* Creates the veth pair name <-> peer (both down). 0 or -errno (the kernel's netlink error). */
int rtnl_veth_add(int nl, const char *name, const char *peer);
/* Sets IFF_UP (up=1) or clears it (up=0) on a link. 0 or -errno. */
int rtnl_link_set_up(int nl, int ifindex, int up);
/* Moves a link into the network namespace open at netns_fd (/proc/PID/ns/net). 0 or -errno. */
int rtnl_link_set_netns_fd(int nl, int ifindex, int netns_fd);
/* Deletes a link (and its veth peer with it). 0 or -errno. */
int rtnl_link_del(int nl, int ifindex);

/* Interface index of `name` in the calling namespace: > 0, or -errno (-ENODEV when absent). */
int link_ifindex(const char *name);

/*
 * The function run in the child. It fills `result` (len bytes, zeroed beforehand) and returns
 * 0 or -errno; both reach the parent.
 */
typedef int (*ns_child_fn)(void *arg, void *result, size_t len);

/*
 * Forks a child that unshares `unshare_flags` (CLONE_NEWNET, CLONE_NEWNS, ...), runs fn and
 * sends back fn's return value and `result` through a pipe. With CLONE_NEWNS the child first
 * makes every mount private, so nothing it mounts propagates back. The child dies with the
 * parent (PR_SET_PDEATHSIG) and is killed after timeout_ms.
 *
 * Returns fn's return value, or -errno when the child could not be started or could not
 * unshare (e.g. -EPERM), -ETIMEDOUT, or -ECHILD when it died without a result. `result` is
 * written only when the child delivered one.
 */
int ns_child_run(int unshare_flags, ns_child_fn fn, void *arg, void *result, size_t len,
		 int timeout_ms);

/*
 * The same in two halves, so the caller can work while the child runs: ns_child_start() forks
 * (0 or -errno), ns_child_finish() waits for the result, reaps the child and returns what
 * ns_child_run() would. Every started child must be finished. The timeout counts from the start.
 */
struct ns_child {
	pid_t pid;
	int fd;
	size_t len;
	struct timespec deadline;
};

int ns_child_start(struct ns_child *c, int unshare_flags, ns_child_fn fn, void *arg, size_t len,
		   int timeout_ms);
int ns_child_finish(struct ns_child *c, void *result);

/* ns_child_run() in a fresh network namespace. */
int netns_run(ns_child_fn fn, void *arg, void *result, size_t len, int timeout_ms);

#endif
