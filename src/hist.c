// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <string.h>

#include "hist.h"

#define STARS_MAX 40

static void print_bar(FILE *f, uint64_t val, uint64_t val_max, int width)
{
	int stars = val_max ? (int)(val * (uint64_t)width / val_max) : 0;

	for (int i = 0; i < width; i++)
		fputc(i < stars ? '*' : ' ', f);
}

void hist_print_log2(FILE *f, const uint64_t *slots, size_t n, const char *unit)
{
	uint64_t val_max = 0;
	int idx_max = -1;

	for (size_t i = 0; i < n; i++) {
		if (slots[i])
			idx_max = (int)i;
		if (slots[i] > val_max)
			val_max = slots[i];
	}
	if (idx_max < 0)
		return;
	fprintf(f, "%*s%-*s : count    distribution\n", 5, "", 19, unit);
	for (int i = 0; i <= idx_max; i++) {
		unsigned long long low = (1ULL << (i + 1)) >> 1, high = (1ULL << (i + 1)) - 1;

		if (low == high)
			low -= 1;
		if (i == (int)n - 1)	/* the open-ended last slot */
			fprintf(f, "%10llu -> %-10s : %-8llu |", low, "...", (unsigned long long)slots[i]);
		else
			fprintf(f, "%10llu -> %-10llu : %-8llu |", low, high, (unsigned long long)slots[i]);
		print_bar(f, slots[i], val_max, STARS_MAX);
		fprintf(f, "|\n");
	}
}

void hist_prometheus(FILE *f, const char *name, const char *labels, const uint64_t *slots, size_t n,
		     uint64_t sum_ns)
{
	const char *sep = labels && *labels ? "," : "";
	uint64_t cum = 0;

	labels = labels ? labels : "";
	for (size_t i = 0; i + 1 < n; i++) {
		cum += slots[i];
		/* Slot i holds values below 2^(i+1) us. */
		fprintf(f, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep,
			(double)(1ULL << (i + 1)) * 1e-6, (unsigned long long)cum);
	}
	if (n)
		cum += slots[n - 1];
	fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)cum);
	fprintf(f, "%s_sum%s%s%s %.9f\n", name, *labels ? "{" : "", labels, *labels ? "}" : "",
		(double)sum_ns / 1e9);
	fprintf(f, "%s_count%s%s%s %llu\n", name, *labels ? "{" : "", labels, *labels ? "}" : "",
		(unsigned long long)cum);
}

json_t *hist_json(const uint64_t *slots, size_t n, uint64_t sum_ns)
{
	json_t *arr = json_array();
	uint64_t count = 0;

	for (size_t i = 0; i < n; i++) {
		json_array_append_new(arr, json_integer((json_int_t)slots[i]));
		count += slots[i];
	}
	return json_pack("{s:o, s:I, s:I}", "slots", arr, "sum_ns", (json_int_t)sum_ns, "count",
			 (json_int_t)count);
}

int hist_from_json(json_t *j, uint64_t *slots, size_t n, uint64_t *sum_ns)
{
	json_t *arr = json_object_get(j, "slots");

	if (!json_is_array(arr) || json_array_size(arr) != n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		slots[i] = (uint64_t)json_integer_value(json_array_get(arr, i));
	*sum_ns = (uint64_t)json_integer_value(json_object_get(j, "sum_ns"));
	return 0;
}

uint64_t hist_quantile_us(const uint64_t *slots, size_t n, double q)
{
	uint64_t total = 0, cum = 0;

	for (size_t i = 0; i < n; i++)
		total += slots[i];
	if (!total)
		return 0;
	for (size_t i = 0; i < n; i++) {
		cum += slots[i];
		if ((double)cum >= q * (double)total)
			return 1ULL << (i + 1);
	}
	return 1ULL << n;
}

void prom_label_escape(const char *in, char *buf, size_t len)
{
	size_t o = 0;

	for (; *in && o + 3 < len; in++) {
		if (*in == '\\' || *in == '"') {
			buf[o++] = '\\';
			buf[o++] = *in;
		} else if (*in == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else {
			buf[o++] = *in;
		}
	}
	buf[o] = '\0';
}
