/*
 * Becoming a daemon (daemon.c), and the start-up channel by which the
 * process the shell started waits for the daemon's first workers.
 */

#ifndef ECHOD_DAEMON_H
#define ECHOD_DAEMON_H

/*
 * Without -d, how long the master waits for prefork workers of its first
 * generation to serve before it gives up (master.c), and how much longer
 * the process the shell started waits for its word (daemon.c).
 */
#define DAEMON_START_WAIT_MS	30000
#define DAEMON_STOP_WAIT_MS	5000

void	daemonize(void);
void	daemon_inherit(int);
int	daemon_starting(void);
void	daemon_ready(void);
void	daemon_detach(void);

#endif /* ECHOD_DAEMON_H */
