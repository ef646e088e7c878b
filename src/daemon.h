/*
 * Becoming a daemon (daemon.c).
 */

#ifndef ECHOD_DAEMON_H
#define ECHOD_DAEMON_H

void	daemonize(void);

#endif /* ECHOD_DAEMON_H */
