// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "guard_hits.h"

int guard_pending_read(int fd, struct guard_pending *p)
{
	__u32 key = 0;
	int n = libbpf_num_possible_cpus(), err;

	p->ncpu = 0;
	p->cpu = NULL;
	if (n <= 0)
		return n < 0 ? n : -EINVAL;
	p->cpu = calloc((size_t)n, sizeof(*p->cpu));
	if (!p->cpu)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &key, p->cpu)) {
		err = -errno;
		guard_pending_free(p);
		return err;
	}
	p->ncpu = n;
	return 0;
}

void guard_pending_free(struct guard_pending *p)
{
	free(p->cpu);
	p->cpu = NULL;
	p->ncpu = 0;
}

enum guard_list_id guard_list_id(enum decision_list list, int family)
{
	if (list == LIST_ALLOW)
		return family == AF_INET6 ? GUARD_LIST_ALLOW_V6 : GUARD_LIST_ALLOW_V4;
	return family == AF_INET6 ? GUARD_LIST_BLOCK_V6 : GUARD_LIST_BLOCK_V4;
}

void guard_entry_hits_rule(struct guard_entry_hits *h, const struct prefix_rule *r, uint32_t id,
			   enum guard_list_id list)
{
	/* The datapath writes these while we read: one load each. */
	h->gen = __atomic_load_n(&r->gen, __ATOMIC_RELAXED);
	h->packets = __atomic_load_n(&r->hit_packets, __ATOMIC_RELAXED);
	h->bytes = __atomic_load_n(&r->hit_bytes, __ATOMIC_RELAXED);
	h->id = id;
	h->list = list;
}

void guard_entry_hits_pending(struct guard_entry_hits *h, const struct guard_pending *p)
{
	if (!h->id || h->list >= GUARD_LIST_COUNT)
		return;
	for (int c = 0; c < p->ncpu; c++) {
		const struct prefix_hits *x = &p->cpu[c].list[h->list];

		if (x->id == h->id && x->gen == h->gen) {
			h->packets += x->packets;
			h->bytes += x->bytes;
		}
	}
}
