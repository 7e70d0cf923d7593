#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Fills this process's memory cgroup to just below its limit, then needs a larger file
descriptor table (dup2 to the highest fd allowed): the kernel's first try, a kmalloc with
__GFP_NORETRY | __GFP_NOWARN charged to the cgroup, is refused. Usage: allocfail.py CGROUP_DIR
LIMIT_FILE (memory.limit_in_bytes on cgroup v1, memory.max on v2)."""
import os
import resource
import sys

cg, limit_file = sys.argv[1], sys.argv[2]
usage_file = "memory.usage_in_bytes" if limit_file == "memory.limit_in_bytes" else "memory.current"
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
fd = os.open("/dev/null", os.O_RDONLY)
limit = int(open(os.path.join(cg, limit_file)).read())
keep = []
while int(open(os.path.join(cg, usage_file)).read()) < limit - (64 << 10):
    keep.append(bytearray(16 << 10))
try:
    os.dup2(fd, hard - 1)
    print("dup2 succeeded after the kernel's fallback (vmalloc)")
except OSError as e:
    print("dup2:", e)
