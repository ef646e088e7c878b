/*
 * echod: command line, start-up and hand-over to the master.
 *
 * Start-up order matters, and each step is here for a reason:
 *   1. read the configuration           (errors: stderr, exit 1)
 *   2. take the pidfile's lock          (a second copy stops here)
 *   3. bind the listening sockets       (a busy port stops here),
 *      or take systemd's (socket activation),
 *      and the control socket           (so does a running echod)
 *   4. become a daemon, unless -d
 *   5. write our pid                    (only now is there a server)
 *   6. fork the workers and serve
 * Whatever can fail for a reason the user must see is tried before step
 * 4 where it can be, while stderr still reaches them.  What fails later
 * (the pidfile's write, workers that cannot set themselves up) still
 * reaches them without -d: the command they ran waits until the workers
 * serve, prints the daemon's errors, and exits 1 if it never does
 * (daemon.c).
 *
 * Started by an old master for a live upgrade (upgrade.c), echod takes
 * the sockets it was handed (the metrics socket too) instead of
 * binding, does not daemonize (it is the old master's child, detached
 * already), and tells the old master, instead of a waiting shell, its
 * errors and when it serves.
 *
 * With -i (inetd mode) there is none of this: inetd.c serves the one
 * connection on standard input and output.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <libutil.h>
#include <paths.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "control.h"
#include "daemon.h"
#include "inetd.h"
#include "listener.h"
#include "log.h"
#include "master.h"
#include "metricsd.h"
#include "systemd.h"
#include "title.h"
#include "upgrade.h"

extern char	**environ;

/*
 * The pidfile and the control socket are made in a directory that must
 * exist (make install creates the default one): if it does not, say
 * which, rather than the file's ENOENT.
 */
static int
check_dir(const char *what, const char *path)
{
	struct stat	 st;
	char		 dir[PATH_MAX];
	char		*slash;

	if (strlcpy(dir, path, sizeof(dir)) >= sizeof(dir) ||
	    (slash = strrchr(dir, '/')) == NULL || slash == dir)
		return 0;	/* the file's own error will do */
	*slash = '\0';
	if (stat(dir, &st) == -1) {
		if (errno != ENOENT && errno != ENOTDIR)
			return 0;
		fprintf(stderr, "%s: %s %s: directory %s does not exist\n",
		    getprogname(), what, path, dir);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "%s: %s %s: %s is not a directory\n",
		    getprogname(), what, path, dir);
		return -1;
	}
	return 0;
}

static void __attribute__((__noreturn__))
usage(void)
{
	fprintf(stderr, "usage: %s [-dinv] [-f file]\n", getprogname());
	exit(1);
}

int
main(int argc, char *argv[])
{
	struct config	*conf;
	struct listener	*ls;
	struct pidfh	*pfh;
	struct control	*ctl;
	const char	*conffile = DEFAULT_CONFIG;
	char		 err[1024], cwd[PATH_MAX], abspath[PATH_MAX];
	size_t		 nls;
	pid_t		 otherpid;
	unsigned int	 logverbose = 0;	/* -v: LOG_VERBOSE */
	int		 ch, debug = 0, noaction = 0, inetd = 0;
	int		 nactivated, ninherited, inh_systemd = 0, inh_metrics;
	size_t		 ninh = 0;

	/* Before setproctitle_init() writes over argv (upgrade.c). */
	upgrade_save(argc, argv);
	/*
	 * Descriptors leaked by whoever started us are not ours to keep,
	 * but for the listening sockets systemd passed, from 3 on, or
	 * those an old master handed over in a live upgrade.
	 */
	if ((ninherited = upgrade_inherited(&ninh, &inh_systemd,
	    &inh_metrics)) > 0)
		nactivated = 0;
	else
		nactivated = systemd_listen_fds();
	closefrom(STDERR_FILENO + 1 + nactivated + ninherited);
	/*
	 * And 0-2 must be open: otherwise the pidfile or a listening socket
	 * would get one of those numbers, and daemonize() would point it at
	 * /dev/null (and -d would log into it).
	 */
	for (;;) {
		int	 fd = open(_PATH_DEVNULL, O_RDWR);

		if (fd == -1)
			exit(1);	/* no stderr to say so */
		if (fd > STDERR_FILENO) {
			close(fd);
			break;
		}
	}
	/* The pidfile's mode must not depend on who started us. */
	umask(022);
	title_init(argc, argv, environ);
	log_init(LOG_TO_STDERR, 0);

	while ((ch = getopt(argc, argv, "df:inv")) != -1) {
		switch (ch) {
		case 'd':
			debug = 1;
			break;
		case 'f':
			conffile = optarg;
			break;
		case 'i':
			inetd = 1;
			break;
		case 'n':
			noaction = 1;
			break;
		case 'v':
			logverbose = LOG_VERBOSE;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	log_init(LOG_TO_STDERR | logverbose, 0);
	/*
	 * A live upgrade: the old master waits on the start-up channel for
	 * our word, and our errors (a bad configuration above all) are the
	 * answer to echodctl upgrade.
	 */
	if (ninherited > 0)
		daemon_inherit(STDERR_FILENO + 1 + (int)ninh + 1);

	/* A daemon works from "/": a reload must find the same file. */
	if (conffile[0] != '/') {
		if (getcwd(cwd, sizeof(cwd)) == NULL) {
			fprintf(stderr, "%s: getcwd: %s\n", getprogname(),
			    strerror(errno));
			exit(1);
		}
		if (snprintf(abspath, sizeof(abspath), "%s/%s", cwd,
		    conffile) >= (int)sizeof(abspath)) {
			fprintf(stderr, "%s: %s: path too long\n",
			    getprogname(), conffile);
			exit(1);
		}
		conffile = abspath;
	}

	if (inetd && !noaction) {
		closefrom(STDERR_FILENO + 1);
		return inetd_run(conffile, (debug ? LOG_TO_STDERR : 0) |
		    logverbose);
	}

	if ((conf = config_load(conffile, err, sizeof(err))) == NULL) {
		if (ninherited > 0)
			log_warnx("%s", err);
		else
			fprintf(stderr, "%s\n", err);
		exit(1);
	}
	if (noaction) {
		fprintf(stderr, "configuration OK\n");
		config_free(conf);
		exit(0);
	}

	/*
	 * From here until the master waits for them, signals stay pending:
	 * a SIGHUP or SIGTERM sent as soon as the pidfile appears is acted
	 * on, not fatal to a half-started daemon.
	 */
	master_block_signals();

	if (check_dir("pidfile", conf->pidfile) == -1)
		exit(1);

	/*
	 * The lock, not the file, says whether echod runs: a pidfile left by
	 * a killed master is unlocked and simply taken over.
	 */
	if ((pfh = pidfile_open(conf->pidfile, 0644, &otherpid)) == NULL) {
		if (errno == EEXIST)
			fprintf(stderr, "%s: already running as pid %ld "
			    "(pidfile %s)\n", getprogname(), (long)otherpid,
			    conf->pidfile);
		else
			fprintf(stderr, "%s: pidfile %s: %s\n", getprogname(),
			    conf->pidfile, strerror(errno));
		if (ninherited > 0)
			log_warnx("pidfile %s: cannot be taken", conf->pidfile);
		exit(1);
	}

	/* Left by an old master killed midway through an upgrade. */
	if (ninherited == 0)
		upgrade_stale_oldbin(conf->pidfile);

	/* systemd's sockets are checked before they are taken. */
	if (ninherited > 0 ? listeners_inherit(conf, STDERR_FILENO + 1,
	    (int)ninh, inh_systemd, &ls, &nls, err, sizeof(err)) == -1 :
	    nactivated > 0 ? systemd_check_fds(STDERR_FILENO + 1, nactivated,
	    err, sizeof(err)) == -1 || listeners_adopt(conf, STDERR_FILENO + 1,
	    nactivated, &ls, &nls, err, sizeof(err)) == -1 :
	    listeners_open(conf, NULL, 0, &ls, &nls, err, sizeof(err)) == -1) {
		if (ninherited > 0)
			log_warnx("%s", err);
		else
			fprintf(stderr, "%s: %s\n", getprogname(), err);
		pidfile_remove(pfh);
		exit(1);
	}
	/* Matched to "metrics listen on" by the master (metricsd.c). */
	if (ninherited > 0 && inh_metrics != -1)
		metricsd_inherit(inh_metrics);
	if (ninherited > 0) {
		if ((ctl = control_adopt(conf, STDERR_FILENO + 1 + (int)ninh,
		    err, sizeof(err))) == NULL) {
			log_warnx("%s", err);
			pidfile_remove(pfh);
			exit(1);
		}
	} else if (check_dir("control socket", conf->control_path) == -1) {
		pidfile_remove(pfh);
		exit(1);
	} else if ((ctl = control_open(conf, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s: %s\n", getprogname(), err);
		pidfile_remove(pfh);
		exit(1);
	}

	if (ninherited > 0 && !debug) {
		/* Already detached: the old master's child, a daemon. */
		if (chdir("/") == -1)
			log_warn("chdir /");
		log_init(logverbose, conf->syslog_facility);
		systemd_daemonized();
	} else if (!debug) {
		daemonize();
		log_init(logverbose, conf->syslog_facility);
		systemd_daemonized();
	}
	/* A pidfile that does not name us would mislead whoever reads it. */
	if (pidfile_write(pfh) == -1) {
		log_warn("pidfile %s", conf->pidfile);
		if (!upgrade_owner())
			control_disown(ctl);
		control_close(ctl);
		pidfile_remove(pfh);
		exit(1);
	}

	return master_run(conf, ls, nls, pfh, ctl);
}
