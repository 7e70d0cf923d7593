// SPDX-License-Identifier: GPL-2.0-only
/*
 * Top tasks by run-queue wait. The kernel keeps each task's total wait (sched_info.run_delay);
 * the task iterator (bpf/monitors.bpf.c mon_task_iter) reads them all in one read() once a
 * second, and this keeps, per task, the waits of the last MON_TOP_WINDOW_MAX seconds, so any
 * window up to that is answered without the hot path doing anything for it.
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "monitors.h"
#include "util.h"

struct task_hist {
	uint32_t tid, tgid;
	uint64_t start_time_ns;
	uint64_t run_delay_ns, pcount;	/* at the last sample */
	char comm[16];
	uint32_t wait_us[MON_TOP_WINDOW_MAX];	/* per second, in the ring slot of that second */
	uint32_t waits[MON_TOP_WINDOW_MAX];
};

struct mon_tasks {
	struct task_hist *v;	/* sorted by (tid, start_time) */
	size_t n;
	unsigned slot;		/* the ring slot the last sample wrote */
	uint64_t samples;
};

struct mon_tasks *mon_tasks_new(void)
{
	return calloc(1, sizeof(struct mon_tasks));
}

void mon_tasks_free(struct mon_tasks *t)
{
	if (t)
		free(t->v);
	free(t);
}

static int cmp_key(const void *a, const void *b)
{
	const struct task_hist *x = a, *y = b;

	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return x->start_time_ns < y->start_time_ns ? -1 : x->start_time_ns > y->start_time_ns;
}

/* Every record the iterator writes: one read() loop over the iterator's fd. */
static int read_records(int iter_link_fd, struct mon_task_rec **out, size_t *n)
{
	int fd = bpf_iter_create(iter_link_fd);
	size_t cap = 1024, len = 0;
	char *buf;
	ssize_t r;

	if (fd < 0)
		return -errno;
	buf = malloc(cap * sizeof(struct mon_task_rec));
	while (buf) {
		if ((len + 4096) > cap * sizeof(struct mon_task_rec)) {
			char *nb = realloc(buf, cap * 2 * sizeof(struct mon_task_rec));

			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + len, cap * sizeof(struct mon_task_rec) - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int err = r < 0 ? -errno : 0;

			close(fd);
			*out = (struct mon_task_rec *)buf;
			*n = len / sizeof(struct mon_task_rec);
			return err;
		}
		len += (size_t)r;
	}
	free(buf);
	close(fd);
	return -ENOMEM;
}

int mon_tasks_sample(struct mon_tasks *t, int iter_link_fd)
{
	struct mon_task_rec *recs = NULL;
	struct task_hist *next;
	size_t n = 0, j = 0;
	unsigned slot = (unsigned)((t->samples + 1) % MON_TOP_WINDOW_MAX);
	int err = read_records(iter_link_fd, &recs, &n);

	if (err) {
		free(recs);
		log_once(LOG_LVL_WARN, "monitors-iter-read", "monitors: reading the task iterator: %s", errstr(err));
		return err;
	}
	next = calloc(n ? n : 1, sizeof(*next));
	if (!next) {
		free(recs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		next[i].tid = recs[i].tid;
		next[i].tgid = recs[i].tgid;
		next[i].start_time_ns = recs[i].start_time_ns;
		next[i].run_delay_ns = recs[i].run_delay_ns;
		next[i].pcount = recs[i].pcount;
		memcpy(next[i].comm, recs[i].comm, sizeof(next[i].comm));
	}
	free(recs);
	qsort(next, n, sizeof(*next), cmp_key);
	/* Merge with the previous sample: a task seen before keeps its history and gets the delta. */
	for (size_t i = 0; i < n; i++) {
		while (j < t->n && cmp_key(&t->v[j], &next[i]) < 0)
			j++;
		if (j < t->n && !cmp_key(&t->v[j], &next[i])) {
			const struct task_hist *p = &t->v[j];
			uint64_t dw = next[i].run_delay_ns >= p->run_delay_ns ? next[i].run_delay_ns - p->run_delay_ns : 0;
			uint64_t dc = next[i].pcount >= p->pcount ? next[i].pcount - p->pcount : 0;

			memcpy(next[i].wait_us, p->wait_us, sizeof(p->wait_us));
			memcpy(next[i].waits, p->waits, sizeof(p->waits));
			next[i].wait_us[slot] = (uint32_t)(dw / 1000 > UINT32_MAX ? UINT32_MAX : dw / 1000);
			next[i].waits[slot] = (uint32_t)(dc > UINT32_MAX ? UINT32_MAX : dc);
		}
		/* A task seen for the first time has no baseline: its first second counts nothing. */
	}
	free(t->v);
	t->v = next;
	t->n = n;
	t->slot = slot;
	t->samples++;
	return 0;
}

struct ranked {
	const struct task_hist *t;
	uint64_t wait_us, waits;
};

static int cmp_wait_desc(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;

	return x->wait_us < y->wait_us ? 1 : x->wait_us > y->wait_us ? -1 : 0;
}

json_t *mon_tasks_top(const struct mon_tasks *t, size_t n, unsigned window)
{
	struct ranked *r;
	json_t *arr = json_array();
	size_t k = 0;

	if (window < 1)
		window = 1;
	if (window > MON_TOP_WINDOW_MAX)
		window = MON_TOP_WINDOW_MAX;
	/* Until `window` seconds have been sampled, the window is what there is. */
	if (t->samples < window + 1)
		window = t->samples ? (unsigned)t->samples - 1 : 0;
	r = calloc(t->n ? t->n : 1, sizeof(*r));
	for (size_t i = 0; r && window && i < t->n; i++) {
		uint64_t w = 0, c = 0;

		for (unsigned s = 0; s < window; s++) {
			unsigned slot = (t->slot + MON_TOP_WINDOW_MAX - s) % MON_TOP_WINDOW_MAX;

			w += t->v[i].wait_us[slot];
			c += t->v[i].waits[slot];
		}
		if (w)
			r[k++] = (struct ranked){ &t->v[i], w, c };
	}
	if (r)
		qsort(r, k, sizeof(*r), cmp_wait_desc);
	for (size_t i = 0; i < k && i < n; i++) {
		char comm[17];

		memcpy(comm, r[i].t->comm, 16);
		comm[16] = '\0';
		json_array_append_new(arr, json_pack("{s:i, s:i, s:s, s:f, s:I, s:f}", "tid",
			(int)r[i].t->tid, "pid", (int)r[i].t->tgid, "comm", comm, "wait_seconds",
			(double)r[i].wait_us / 1e6, "waits", (json_int_t)r[i].waits, "mean_wait_us",
			r[i].waits ? (double)r[i].wait_us / (double)r[i].waits : 0.0));
	}
	free(r);
	return json_pack("{s:i, s:o}", "window_seconds", (int)window, "tasks", arr);
}
