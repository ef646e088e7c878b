/*
 * Where echod's files are by default: the paths given to configure
 * (-DSYSCONFDIR, -DRUNSTATEDIR), shared by echod and echodctl.
 */

#ifndef ECHOD_PATHNAMES_H
#define ECHOD_PATHNAMES_H

#ifndef SYSCONFDIR
#define SYSCONFDIR	"/etc"
#endif
#ifndef RUNSTATEDIR
#define RUNSTATEDIR	"/var/run"
#endif
#define DEFAULT_CONFIG	SYSCONFDIR "/echod.conf"
#define DEFAULT_PIDFILE	RUNSTATEDIR "/echod.pid"
#define DEFAULT_CONTROL	RUNSTATEDIR "/echod.sock"

#endif /* ECHOD_PATHNAMES_H */
