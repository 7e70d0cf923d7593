// SPDX-License-Identifier: GPL-2.0-only
/*
 * The host monitors as raw_tp programs, for kernels where tp_btf does not attach: the same
 * source (monitors.bpf.c), the same program and map names, so the agent can pin either build.
 */
#define MON_RAW_TP 1
#include "monitors.bpf.c"
