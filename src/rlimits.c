/*
 * Resource limits for workers: descriptors sized to what a worker
 * needs, and core dumps as echod.conf(5)'s core-limit says.
 *
 * A worker holds what it inherited (standard descriptors, listening
 * sockets, the master's wake pipe, /dev/null for draining) and opens one
 * connection at a time, plus now and then the syslog socket.  Its
 * RLIMIT_NOFILE, soft and hard, is cut to that: a worker that somebody
 * took over cannot hoard descriptors or raise the limit again.
 */

#include <sys/types.h>
#include <sys/resource.h>
#ifdef HAVE_PRCTL
#include <sys/prctl.h>
#endif

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>

#include "rlimits.h"
#include "log.h"

/*
 * Beyond the highest inherited descriptor: the connection, the syslog
 * socket, a sanitizer's report file, and one to spare.
 */
#define WORKER_SPARE_FDS	4

/*
 * The highest open descriptor, from /proc; -1 if it cannot be read.
 * The master reads it once per round of starts (pool.c) rather than
 * every worker once: a directory read is a fifth of a new worker's
 * system calls.
 */
int
limits_highest_fd(void)
{
	DIR		*dir;
	struct dirent	*de;
	const char	*errstr;
	int		 fd, highest = -1;

	if ((dir = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((de = readdir(dir)) != NULL) {
		fd = strtonum(de->d_name, 0, INT_MAX, &errstr);
		if (errstr == NULL && fd != dirfd(dir) && fd > highest)
			highest = fd;
	}
	closedir(dir);
	return highest;
}

/*
 * Set a limit's hard value to want, or keep it if it is lower: never
 * raise one.  The soft value becomes want too when exact, else it only
 * comes down to the new hard value (an admin's lower soft limit on
 * descriptors stands).
 */
static void
cap_limit(int resource, const char *name, rlim_t want, int exact)
{
	struct rlimit	 rl;

	if (getrlimit(resource, &rl) == -1) {
		log_warn("getrlimit %s", name);
		return;
	}
	if (rl.rlim_max != RLIM_INFINITY &&
	    (want == RLIM_INFINITY || want > rl.rlim_max))
		want = rl.rlim_max;
	rl.rlim_max = want;
	if (exact || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > want)
		rl.rlim_cur = want;
	if (setrlimit(resource, &rl) == -1)
		log_warn("setrlimit %s", name);
}

/*
 * highest: the highest descriptor the worker holds, or may hold, as
 * the caller knows it; -1 to read it here, before the privilege drop
 * and chroot, while /proc/self/fd can still be read.
 */
void
limits_apply(const struct config *conf, int highest)
{
	if (highest == -1)
		highest = limits_highest_fd();
	if (highest != -1)
		cap_limit(RLIMIT_NOFILE, "RLIMIT_NOFILE",
		    (rlim_t)highest + 1 + WORKER_SPARE_FDS, 0);
	else
		log_debug("no /proc/self/fd: RLIMIT_NOFILE left as it is");
	cap_limit(RLIMIT_CORE, "RLIMIT_CORE", conf->core_limit == -1 ?
	    RLIM_INFINITY : (rlim_t)conf->core_limit, 1);
}

/*
 * After the privilege drop.  Linux makes a process that changed its
 * credentials undumpable, so core-limit alone would never give a core;
 * like Apache's CoreDumpDirectory, ask for one back when it is wanted.
 */
void
limits_allow_core(const struct config *conf)
{
#if defined(HAVE_PRCTL) && defined(PR_SET_DUMPABLE)
	if (conf->core_limit != 0 && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) == -1)
		log_warn("prctl PR_SET_DUMPABLE");
#else
	(void)conf;
#endif
}

/*
 * In the master, at start-up and on reload: say once, rather than in
 * every worker, that core-limit is above what this process may grant.
 */
void
limits_check(const struct config *conf)
{
	struct rlimit	 rl;

	if (conf->core_limit == 0 || getrlimit(RLIMIT_CORE, &rl) == -1 ||
	    rl.rlim_max == RLIM_INFINITY)
		return;
	if (conf->core_limit == -1 || (rlim_t)conf->core_limit > rl.rlim_max)
		log_warnx("core-limit is above the hard limit on core size "
		    "(%llu bytes): workers get that", (unsigned long long)
		    rl.rlim_max);
}
