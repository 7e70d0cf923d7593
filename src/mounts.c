// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <limits.h>
#include <linux/magic.h>
#include <mntent.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statfs.h>

#include "log.h"
#include "mounts.h"
#include "util.h"

#ifndef TRACEFS_MAGIC
#define TRACEFS_MAGIC 0x74726163
#endif

int mount_find(const char *fstype, char *path, size_t len)
{
	FILE *f = setmntent("/proc/mounts", "re");
	struct mntent *m;
	int err = -ENOENT;

	if (!f)
		return -errno;
	while ((m = getmntent(f))) {
		if (strcmp(m->mnt_type, fstype) == 0) {
			snprintf(path, len, "%s", m->mnt_dir);
			err = 0;
			break;
		}
	}
	endmntent(f);
	return err;
}

bool mount_is(const char *path, const char *fstype)
{
	struct statfs st;

	if (statfs(path, &st))
		return false;
	if (streq(fstype, "bpf"))
		return st.f_type == BPF_FS_MAGIC;
	if (streq(fstype, "tracefs"))
		return st.f_type == TRACEFS_MAGIC;
	if (streq(fstype, "cgroup2"))
		return st.f_type == CGROUP2_SUPER_MAGIC;
	return false;
}

int mount_ensure_bpffs(const char *dir, bool *mounted)
{
	int err;

	*mounted = false;
	if (mount_is(dir, "bpf"))
		return 0;
	err = mkdir_p(dir, 0700);
	if (err)
		return err;
	if (mount("bpf", dir, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700"))
		return -errno;
	*mounted = true;
	return 0;
}

int mount_ensure_tracefs(char *path, size_t len, bool *mounted)
{
	*mounted = false;
	if (mount_find("tracefs", path, len) == 0)
		return 0;
	snprintf(path, len, "%s", TRACEFS_DEFAULT);
	if (mount_is(path, "tracefs"))
		return 0;
	if (mount("tracefs", path, "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL))
		return -errno;
	*mounted = true;
	return 0;
}

int cgroup2_find(char *path, size_t len)
{
	return mount_find("cgroup2", path, len);
}
