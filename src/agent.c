// SPDX-License-Identifier: GPL-2.0-only
/*
 * The daemon: owns every kernel object aegis makes, serves the control API and reloads its
 * configuration, all from one epoll loop (signalfd, a 1 s timer, the API's listeners).
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <net/if.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>

#include "agent.h"
#include "api.h"
#include "audit.h"
#include "bpfobj.h"
#include "cli.h"
#include "config.h"
#include "events.h"
#include "iface.h"
#include "log.h"
#include "module.h"
#include "mounts.h"
#include "probe.h"
#include "util.h"

struct agent agent;

const struct agent_module *const agent_modules[] = {
	&guard_module,
	&policy_module,
	&monitors_module,
	&visibility_module,
	NULL,
};

/*
 * Switches of the agent's command line that override the policy section of the configuration
 * (`--iface IF --no-tc --no-cg --dry-run`), applied again after every reload so that SIGHUP
 * does not undo them.
 */
static struct {
	char **ifaces;		/* --iface, repeatable: policy.interfaces */
	size_t n_ifaces;
	bool no_tc, no_cg, dry_run;
} overrides;

static int apply_overrides(struct aegis_config *cfg)
{
	if (overrides.n_ifaces) {
		char **v = calloc(overrides.n_ifaces + 1, sizeof(*v));

		if (!v)
			return -ENOMEM;
		for (size_t i = 0; i < overrides.n_ifaces; i++)
			if (!(v[i] = strdup(overrides.ifaces[i])))
				return -ENOMEM;
		for (size_t i = 0; i < cfg->n_policy_ifaces; i++)
			free(cfg->policy_ifaces[i]);
		free(cfg->policy_ifaces);
		cfg->policy_ifaces = v;
		cfg->n_policy_ifaces = overrides.n_ifaces;
	}
	if (overrides.no_tc)
		cfg->policy_tc = false;
	if (overrides.no_cg)
		cfg->policy_cgroup = false;
	if (overrides.dry_run)
		cfg->policy_dry_run = true;
	return 0;
}

static void log_diags(const struct diags *d)
{
	for (size_t i = 0; i < d->n; i++)
		pr_err("%s:%d:%d: %s%s%s", d->v[i].file, d->v[i].line, d->v[i].col,
		       d->v[i].key ? d->v[i].key : "", d->v[i].key ? ": " : "", d->v[i].msg);
}

/* bpffs under the pin root and tracefs for tracepoints: mounted when missing, and said so. */
static int ensure_mounts(const struct aegis_config *cfg)
{
	char tracefs[PATH_MAX], parent[PATH_MAX];
	bool mounted;
	int err;

	snprintf(parent, sizeof(parent), "%s", cfg->pin_root);
	dirname(parent);
	if (!mount_is(parent, "bpf") && !mount_is(cfg->pin_root, "bpf")) {
		if (strncmp(cfg->pin_root, BPFFS_DEFAULT "/", strlen(BPFFS_DEFAULT) + 1) != 0)
			return pr_err_errno(-ENOTDIR, "bpf.pin_root %s is not on a bpffs mount", cfg->pin_root);
		err = mount_ensure_bpffs(BPFFS_DEFAULT, &mounted);
		if (err) {
			audit_log(&actor_agent, "mount", BPFFS_DEFAULT, err, NULL, json_pack("{s:s}", "fstype", "bpf"));
			return pr_err_errno(err, "cannot mount bpffs at %s", BPFFS_DEFAULT);
		}
		if (mounted) {
			pr_info("mounted bpffs at %s (it was not mounted)", BPFFS_DEFAULT);
			audit_log(&actor_agent, "mount", BPFFS_DEFAULT, 0, NULL, json_pack("{s:s}", "fstype", "bpf"));
		}
	}
	err = mount_ensure_tracefs(tracefs, sizeof(tracefs), &mounted);
	if (err) {
		log_once(LOG_LVL_WARN, "tracefs", "cannot mount tracefs at %s: %s; tracepoint programs "
			 "will not attach", TRACEFS_DEFAULT, errstr(err));
	} else if (mounted) {
		pr_info("mounted tracefs at %s (it was not mounted)", tracefs);
		audit_log(&actor_agent, "mount", tracefs, 0, NULL, json_pack("{s:s}", "fstype", "tracefs"));
	}
	return 0;
}

/* One agent per state directory: a second one would fight over the same pins. */
static int take_lock(const char *state_dir)
{
	char path[PATH_MAX];
	int fd, err = mkdir_p(state_dir, 0750);

	if (err)
		return pr_err_errno(err, "agent.state_dir %s", state_dir);
	snprintf(path, sizeof(path), "%s/agent.lock", state_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return pr_err_errno(-errno, "cannot open %s", path);
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		err = -errno;
		close(fd);
		if (err == -EWOULDBLOCK) {
			pr_err("another agent is running with state directory %s", state_dir);
			return -EBUSY;
		}
		return pr_err_errno(err, "cannot lock %s", path);
	}
	return fd;
}

static void enable_bpf_stats(void)
{
	if (!agent.cfg.bpf_stats || agent.stats_fd >= 0)
		return;
	/* Held open, not a sysctl: statistics stop costing when the agent exits. */
	agent.stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (agent.stats_fd < 0)
		log_once(LOG_LVL_WARN, "bpf-stats", "cannot enable BPF run-time statistics: %s; run "
			 "counts and times will read 0", errstr(-errno));
}

static void disable_bpf_stats(void)
{
	if (agent.stats_fd >= 0)
		close(agent.stats_fd);
	agent.stats_fd = -1;
}

/*
 * Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; later ones to the memory cgroup.
 * The probe tried which: raise the limit only where it still matters.
 */
static void set_memlock(void)
{
	json_t *memcg = json_object_get(json_object_get(json_object_get(agent.probe_report, "system"),
							"memlock"), "memcg_accounting");
	struct rlimit unlimited = { RLIM_INFINITY, RLIM_INFINITY };

	if (json_is_true(json_object_get(memcg, "ok"))) {
		pr_debug("BPF memory is charged to the memory cgroup: RLIMIT_MEMLOCK left as it is");
		return;
	}
	if (setrlimit(RLIMIT_MEMLOCK, &unlimited))
		pr_warn_errno(-errno, "this kernel charges BPF memory to RLIMIT_MEMLOCK, which cannot be raised");
	else
		pr_info("this kernel charges BPF memory to RLIMIT_MEMLOCK: raised it to unlimited");
}

static void run_probe(void)
{
	int exit_code = 0;

	json_decref(agent.probe_report);
	agent.probe_report = probe_run(&agent.cfg, &exit_code);
	if (exit_code)
		pr_warn("probe: %s (see `aegis probe`)",
			json_string_value(json_object_get(agent.probe_report, "exit_reason")) ?: "a capability the configuration enables is unavailable");
}

/*
 * The modules' fds join the loop, and leave it when a module closes them (a reload that stops
 * the guard closes its ring buffer): asked for again after start and after every reload.
 */
static void sync_watched_fds(void)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct watched_fd want[ARRAY_SIZE(agent.watched)];
	size_t n = 0;

	for (size_t i = 0; i < agent.n_started; i++) {
		const struct agent_module *m = agent_modules[i];
		int fds[4], k = m->poll_fds ? m->poll_fds(fds, 4) : 0;

		for (int j = 0; j < k && n < ARRAY_SIZE(want); j++)
			want[n++] = (struct watched_fd){ fds[j], m };
	}
	for (size_t i = 0; i < agent.n_watched; i++) {
		bool kept = false;

		for (size_t j = 0; j < n; j++)
			kept |= want[j].fd == agent.watched[i].fd;
		/* A closed fd has left the epoll set by itself; ENOENT/EBADF are expected. */
		if (!kept)
			epoll_ctl(agent.epfd, EPOLL_CTL_DEL, agent.watched[i].fd, NULL);
	}
	for (size_t j = 0; j < n; j++) {
		ev.data.fd = want[j].fd;
		if (epoll_ctl(agent.epfd, EPOLL_CTL_ADD, want[j].fd, &ev) && errno != EEXIST)
			pr_warn_errno(-errno, "%s: cannot watch fd %d; its events will not be read",
				      want[j].module->name, want[j].fd);
	}
	memcpy(agent.watched, want, n * sizeof(want[0]));
	agent.n_watched = n;
}

void agent_fds_changed(void)
{
	/* Before the loop is set up, setup_loop() asks every module anyway. */
	if (agent.epfd >= 0)
		sync_watched_fds();
}

/* Every module to cfg, or none: the ones already moved go back to `old` when one refuses. */
static int reconfigure_modules(const struct aegis_config *old, const struct aegis_config *cfg)
{
	size_t i;
	int err = 0;

	for (i = 0; i < agent.n_started && !err; i++)
		if (agent_modules[i]->reconfigure)
			err = agent_modules[i]->reconfigure(old, cfg);
	if (!err)
		return 0;
	pr_err("%s: the new configuration cannot be applied; restoring the previous one",
	       agent_modules[i - 1]->name);
	/* Module i - 1 restored itself. */
	for (size_t k = i - 1; k-- > 0;)
		if (agent_modules[k]->reconfigure && agent_modules[k]->reconfigure(cfg, old))
			pr_err("%s: could not fully restore the previous configuration", agent_modules[k]->name);
	return err;
}

int agent_reload(const struct actor *who, json_t **result)
{
	struct aegis_config next = {};
	struct diags d = {};
	int err;

	err = config_load(agent.config_path, &next, &d);
	if (err) {
		_cleanup_free_ char *joined = diags_join(&d);

		log_diags(&d);
		pr_err("configuration reload refused; the running configuration stays in force");
		audit_log(who, "config.reload", next.source ? next.source : agent.cfg.source, -EINVAL,
			  joined, json_pack("{s:o}", "errors", diags_to_json(&d)));
		if (result)
			*result = json_pack("{s:b, s:o}", "applied", 0, "errors", diags_to_json(&d));
		diags_free(&d);
		config_free(&next);
		agent.reloads_failed++;
		return -EINVAL;
	}
	diags_free(&d);
	if (apply_overrides(&next)) {
		config_free(&next);
		return pr_err_errno(-ENOMEM, "configuration reload");
	}
	if (!streq(next.socket_path, agent.cfg.socket_path) || !streq(next.pin_root, agent.cfg.pin_root) ||
	    !streq(next.state_dir, agent.cfg.state_dir))
		pr_warn("agent.socket, bpf.pin_root and agent.state_dir changes take effect at restart");
	err = reconfigure_modules(&agent.cfg, &next);
	if (err) {
		audit_log(who, "config.reload", next.source, err, "applying the new configuration failed; "
			  "the previous one was restored", NULL);
		if (result)
			*result = json_pack("{s:b, s:s}", "applied", 0, "error", errstr(err));
		config_free(&next);
		agent.reloads_failed++;
		return err;
	}
	/* Paths that need a restart keep their running values. */
	free(next.socket_path);
	next.socket_path = strdup(agent.cfg.socket_path);
	free(next.pin_root);
	next.pin_root = strdup(agent.cfg.pin_root);
	free(next.state_dir);
	next.state_dir = strdup(agent.cfg.state_dir);
	config_free(&agent.cfg);
	agent.cfg = next;
	log_set_level(agent.cfg.log_level);
	if (agent.cfg.bpf_stats)
		enable_bpf_stats();
	else
		disable_bpf_stats();
	agent.reloads_ok++;
	sync_watched_fds();
	pr_info("configuration reloaded from %s", agent.cfg.source);
	audit_log(who, "config.reload", agent.cfg.source, 0, NULL, NULL);
	if (result)
		*result = json_pack("{s:b, s:s}", "applied", 1, "source", agent.cfg.source);
	return 0;
}

static int setup_loop(void)
{
	struct itimerspec tick = { .it_interval = { 1, 0 }, .it_value = { 1, 0 } };
	struct epoll_event ev = { .events = EPOLLIN };
	sigset_t mask;
	int fds[4], n;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL))
		return pr_err_errno(-errno, "sigprocmask");
	signal(SIGPIPE, SIG_IGN);
	agent.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	agent.timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	agent.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (agent.sigfd < 0 || agent.timerfd < 0 || agent.epfd < 0)
		return pr_err_errno(-errno, "cannot set up the event loop");
	if (timerfd_settime(agent.timerfd, 0, &tick, NULL))
		return pr_err_errno(-errno, "timerfd_settime");
	ev.data.fd = agent.sigfd;
	if (epoll_ctl(agent.epfd, EPOLL_CTL_ADD, agent.sigfd, &ev))
		return pr_err_errno(-errno, "epoll_ctl(signalfd)");
	ev.data.fd = agent.timerfd;
	if (epoll_ctl(agent.epfd, EPOLL_CTL_ADD, agent.timerfd, &ev))
		return pr_err_errno(-errno, "epoll_ctl(timerfd)");
	sync_watched_fds();
	n = api_poll_fds(agent.api, fds, 4);
	for (int i = 0; i < n; i++) {
		ev.data.fd = fds[i];
		if (epoll_ctl(agent.epfd, EPOLL_CTL_ADD, fds[i], &ev))
			return pr_err_errno(-errno, "epoll_ctl(api)");
	}
	return 0;
}

static void on_signal(void)
{
	struct signalfd_siginfo si;

	while (read(agent.sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			pr_info("SIGHUP: reloading %s", agent.config_path ? agent.config_path : "the embedded configuration");
			agent_reload(&actor_config, NULL);
		} else {
			pr_info("%s: stopping", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
			agent.stop = true;
		}
	}
}

static void wake_waiting_readers(void)
{
	api_wake(agent.api);
}

static void on_tick(void)
{
	uint64_t expirations;

	if (read(agent.timerfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		log_once(LOG_LVL_WARN, "timerfd", "timerfd read: %s", strerror(errno));
	for (size_t i = 0; i < agent.n_started; i++)
		if (agent_modules[i]->tick)
			agent_modules[i]->tick(&agent.cfg);
	/* Long-polling readers whose wait ran out answer now. */
	api_wake(agent.api);
}

static void dispatch_fd(int fd)
{
	for (size_t i = 0; i < agent.n_watched; i++)
		if (agent.watched[i].fd == fd && agent.watched[i].module->on_readable) {
			agent.watched[i].module->on_readable(fd);
			return;
		}
}

static int run_loop(void)
{
	struct epoll_event evs[8];

	while (!agent.stop) {
		int timeout = api_timeout_ms(agent.api);
		int n = epoll_wait(agent.epfd, evs, 8, timeout < 0 || timeout > 1000 ? 1000 : timeout);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return pr_err_errno(-errno, "epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.fd == agent.sigfd)
				on_signal();
			else if (evs[i].data.fd == agent.timerfd)
				on_tick();
			else
				dispatch_fd(evs[i].data.fd);
		}
		/* MHD keeps its own deadlines: let it run on every wake-up. */
		api_run(agent.api);
	}
	return 0;
}

static void shutdown_agent(void)
{
	bool detach = agent.cfg.on_exit == EXIT_DETACH;
	bool had_datapath = false;

	events_set_notify(NULL);
	api_stop(agent.api);
	agent.api = NULL;
	for (size_t i = agent.n_started; i-- > 0;) {
		const struct bpfobj *objs[8];

		had_datapath |= agent_modules[i]->objects && agent_modules[i]->objects(objs, 8) > 0;
		if (agent_modules[i]->stop)
			agent_modules[i]->stop(&agent.cfg, detach);
	}
	agent.n_started = 0;
	if (detach) {
		int n = bpfobj_remove_all(agent.cfg.pin_root);

		pr_info("agent.on_exit is detach: removed %d pinned objects", n < 0 ? 0 : n);
	} else if (had_datapath) {
		pr_info("stopped; the datapath keeps running from the pins under %s "
			"(`aegis agent --cleanup` removes it)", agent.cfg.pin_root);
	}
	audit_log(&actor_agent, "agent.stop", NULL, 0, NULL,
		  json_pack("{s:s}", "enforcement", detach ? "detached" : "kept"));
	disable_bpf_stats();
	json_decref(agent.probe_report);
	agent.probe_report = NULL;
	if (agent.lock_fd >= 0)
		close(agent.lock_fd);
	config_free(&agent.cfg);
	audit_close();
	events_free();
}

/* `aegis agent --cleanup`: everything aegis put in the kernel goes, the audit log stays. */
static int cleanup_all(void)
{
	int n, extra = 0;

	if (unix_socket_answers(agent.cfg.socket_path)) {
		pr_err("an agent is running on %s: stop it first (systemctl stop aegis, or SIGTERM)",
		       agent.cfg.socket_path);
		return 1;
	}
	for (const struct agent_module *const *m = agent_modules; *m; m++) {
		int k = (*m)->cleanup ? (*m)->cleanup(&agent.cfg) : 0;

		if (k < 0)
			pr_warn_errno(k, "%s: cleanup of what is not pinned", (*m)->name);
		else
			extra += k;
	}
	n = bpfobj_remove_all(agent.cfg.pin_root);
	if (n < 0) {
		audit_log(&actor_agent, "cleanup", agent.cfg.pin_root, n, NULL, NULL);
		pr_err_errno(n, "cleanup of %s", agent.cfg.pin_root);
		return 1;
	}
	audit_log(&actor_agent, "cleanup", agent.cfg.pin_root, 0, NULL,
		  json_pack("{s:i, s:i}", "removed", n, "removed_unpinned", extra));
	printf("aegis: removed %d pinned objects under %s%s; no aegis program remains attached\n", n,
	       agent.cfg.pin_root, extra ? " and TC filters aegis made over netlink" : "");
	return 0;
}

static int start_modules(void)
{
	for (const struct agent_module *const *m = agent_modules; *m; m++) {
		int err = (*m)->start ? (*m)->start(&agent.cfg) : 0;

		/* Started or not, stop() releases what it holds. */
		agent.n_started++;
		if (err)
			return err;
	}
	return 0;
}

/* The agent's routes and every module's, in one table for the API (kept for the process). */
static const struct api_route *all_routes(void)
{
	static struct api_route *table;
	size_t n = 0;

	if (table)
		return table;
	for (const struct api_route *r = agent_routes; r->path; r++)
		n++;
	for (const struct agent_module *const *m = agent_modules; *m; m++)
		for (const struct api_route *r = (*m)->routes; r && r->path; r++)
			n++;
	table = calloc(n + 1, sizeof(*table));
	if (!table) {
		pr_err("out of memory for the API's route table");
		return NULL;
	}
	n = 0;
	for (const struct api_route *r = agent_routes; r->path; r++)
		table[n++] = *r;
	for (const struct agent_module *const *m = agent_modules; *m; m++)
		for (const struct api_route *r = (*m)->routes; r && r->path; r++)
			table[n++] = *r;
	return table;
}

static int parse_args(int argc, char **argv, bool *cleanup, char **level)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "cleanup", no_argument, NULL, 'C' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "iface", required_argument, NULL, 'i' },
		{ "no-tc", no_argument, NULL, 'T' },
		{ "no-cg", no_argument, NULL, 'G' },
		{ "dry-run", no_argument, NULL, 'D' },
		{},
	};
	char **v;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			agent.config_path = optarg;
			break;
		case 'C':
			*cleanup = true;
			break;
		case 'l':
			*level = optarg;
			break;
		case 'i':
			if (!*optarg || iface_name_problem(optarg)) {
				fprintf(stderr, "aegis agent: --iface '%s' %s\n", optarg,
					*optarg ? iface_name_problem(optarg) : "is empty");
				return EXIT_USAGE;
			}
			v = realloc(overrides.ifaces, (overrides.n_ifaces + 1) * sizeof(*v));
			if (!v)
				return 1;
			overrides.ifaces = v;
			overrides.ifaces[overrides.n_ifaces++] = optarg;
			break;
		case 'T':
			overrides.no_tc = true;
			break;
		case 'G':
			overrides.no_cg = true;
			break;
		case 'D':
			overrides.dry_run = true;
			break;
		default:
			fprintf(stderr, "usage: aegis agent [--config FILE] [--cleanup] [--log-level L] "
				"[--iface IF]... [--no-tc] [--no-cg] [--dry-run]\n");
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "aegis agent: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	return 0;
}

static int load_initial_config(const char *level)
{
	struct diags d = {};
	enum log_level lvl;

	if (config_load(agent.config_path, &agent.cfg, &d)) {
		log_diags(&d);
		diags_free(&d);
		pr_err("invalid configuration: not starting");
		return 1;
	}
	diags_free(&d);
	if (apply_overrides(&agent.cfg)) {
		pr_err("out of memory");
		return 1;
	}
	log_set_level(agent.cfg.log_level);
	if (level) {
		if (log_parse_level(level, &lvl)) {
			pr_err("--log-level '%s': expected error, warn, info or debug", level);
			return EXIT_USAGE;
		}
		log_set_level(lvl);
	}
	return 0;
}

int cmd_agent(int argc, char **argv)
{
	bool cleanup = false;
	char *level = NULL;
	int rc, err;

	memset(&agent, 0, sizeof(agent));
	free(overrides.ifaces);
	memset(&overrides, 0, sizeof(overrides));
	agent.stats_fd = agent.lock_fd = agent.sigfd = agent.timerfd = agent.epfd = -1;
	rc = parse_args(argc, argv, &cleanup, &level);
	if (!rc)
		rc = load_initial_config(level);
	if (rc)
		return rc;
	if (geteuid() != 0)
		pr_warn("not running as root: loading BPF programs needs CAP_BPF, CAP_NET_ADMIN, "
			"CAP_PERFMON and CAP_SYS_ADMIN");
	if (audit_open(agent.cfg.audit_log))
		return 1;
	if (cleanup) {
		rc = cleanup_all();
		config_free(&agent.cfg);
		return rc;
	}
	agent.lock_fd = take_lock(agent.cfg.state_dir);
	if (agent.lock_fd < 0)
		return 1;
	agent.started_mono = now_monotonic_ns();
	agent.started_real = now_realtime_ns();
	pr_info("aegis %s starting with %s", AEGIS_VERSION, agent.cfg.source);
	audit_log(&actor_agent, "agent.start", agent.cfg.source, 0, NULL,
		  json_pack("{s:s, s:i}", "version", AEGIS_VERSION, "pid", (int)getpid()));
	err = ensure_mounts(&agent.cfg);
	if (!err) {
		run_probe();
		set_memlock();
		enable_bpf_stats();
		err = start_modules();
	}
	if (!err)
		err = api_start(&agent.api, &agent.cfg, all_routes());
	if (!err)
		err = setup_loop();
	if (!err)
		events_set_notify(wake_waiting_readers);
	if (!err) {
		pr_info("ready: pid %d, API on %s", (int)getpid(), agent.cfg.socket_path);
		err = run_loop();
	}
	if (err)
		audit_log(&actor_agent, "agent.start", agent.cfg.source, err, NULL, NULL);
	shutdown_agent();
	return err ? 1 : 0;
}
