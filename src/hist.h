/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * log2 histograms of microseconds (struct mon_hist's layout: slot 0 is [0, 2) us, slot k >= 1
 * is [2^k, 2^(k+1)) us, the last slot open-ended), printed as libbpf-tools prints them and
 * written as Prometheus histograms in seconds.
 */
#ifndef AEGIS_HIST_H
#define AEGIS_HIST_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

/* "     usecs : count distribution" and one line a slot up to the last non-empty one, with a bar
 * of up to 40 stars scaled to the largest slot (libbpf-tools' print_log2_hist layout). Nothing
 * when every slot is 0. */
void hist_print_log2(FILE *f, const uint64_t *slots, size_t n, const char *unit);

/*
 * One Prometheus histogram: name_bucket{labels,le="..."} cumulative over the slots (le is each
 * slot's upper bound in seconds; the last slot only counts in +Inf), name_sum (seconds) and
 * name_count. `labels` is "" or `key="value",...` without braces.
 */
void hist_prometheus(FILE *f, const char *name, const char *labels, const uint64_t *slots, size_t n,
		     uint64_t sum_ns);

/* {"slots": [...], "sum_ns": N, "count": N} */
json_t *hist_json(const uint64_t *slots, size_t n, uint64_t sum_ns);
/* Parses hist_json's output into slots (n of them) and *sum_ns; -EINVAL when it is not one. */
int hist_from_json(json_t *j, uint64_t *slots, size_t n, uint64_t *sum_ns);

/* The value below which a fraction q (0..1) of the samples fall, in microseconds: the upper bound
 * of the slot that holds it (an upper estimate, as log2 buckets allow). 0 when empty. */
uint64_t hist_quantile_us(const uint64_t *slots, size_t n, double q);

/* Escapes a Prometheus label value (\\, \" and \n) into buf. */
void prom_label_escape(const char *in, char *buf, size_t len);

#endif
