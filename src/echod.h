/*
 * echod: a preforked Echo Protocol (RFC 862) daemon.
 *
 * One process, the master, reads the configuration, binds the listening
 * sockets and forks the workers; each worker blocks in accept() on the
 * shared sockets and echoes one connection at a time (Stevens, UNIX
 * Network Programming vol. 1, section 30.6).  Prototypes are grouped by
 * the file that defines them.
 */

#ifndef ECHOD_H
#define ECHOD_H

#include <sys/types.h>

#include <stdint.h>

#include "config.h"

struct pidfh;
struct control;

/* A bound, listening socket, shared by the master and its workers. */
struct listener {
	struct listen_addr	 addr;	/* as configured, or systemd's own */
	int			 fd;
	char			 bound[LISTEN_NAME_MAX]; /* e.g. "[::]:2000" */
	int			 from_systemd;	/* socket activation */
};

struct scoreboard;

/* What a worker is handed by the master when it is forked. */
struct worker_args {
	const struct config	*conf;
	struct listener		*listeners;
	size_t			 nlisteners;
	unsigned int		 generation;
	pid_t			 master_pid;
	struct scoreboard	*scoreboard;
	size_t			 slot;		/* its own, in scoreboard */
	int			 wake_fd;	/* the master's wake pipe */
};

/*
 * A worker that cannot set itself up (privilege drop failed) exits with
 * this status; the master then stops, since every new worker would fail
 * the same way.
 */
#define WORKER_EXIT_SETUP	3
/* A worker that has served max-connections-per-worker exits with this. */
#define WORKER_EXIT_RECYCLED	4

/*
 * Without -d, how long the master waits for prefork workers of its first
 * generation to serve before it gives up (master.c), and how much longer
 * the process the shell started waits for its word (daemon.c).
 */
#define DAEMON_START_WAIT_MS	30000
#define DAEMON_STOP_WAIT_MS	5000

/* daemon.c */
void	daemonize(void);
int	daemon_starting(void);
void	daemon_ready(void);
void	daemon_detach(void);

/* inetd.c */
int	inetd_run(const char *, int, int);

/* listener.c */
int	listeners_open(const struct config *, struct listener *, size_t,
	    struct listener **, size_t *, char *, size_t);
void	listeners_close(struct listener *, size_t);
int	listeners_adopt(const struct config *, int, int, struct listener **,
	    size_t *, char *, size_t);

/* limits.c */
void	limits_apply(const struct config *);
void	limits_allow_core(const struct config *);
void	limits_check(const struct config *);

/* master.c */
void	master_block_signals(void);
int	master_run(struct config *, struct listener *, size_t,
	    struct pidfh *, struct control *);

/* privdrop.c */
int	privdrop_applies(const struct config *);
int	privdrop(const struct config *);

/* sandbox.c, with libseccomp */
#ifdef HAVE_SECCOMP
int	sandbox_prepare(void);
int	sandbox_enter(volatile int32_t *);
void	sandbox_syscall_name(int32_t, char *, size_t);
#endif

/* systemd.c: socket activation; MAINPID= for systemd */
int	systemd_listen_fds(void);
int	systemd_check_fds(int, int, char *, size_t);
void	systemd_daemonized(void);

/* worker.c */
void	worker_run(const struct worker_args *)
	    __attribute__((__noreturn__));
struct slot;
void	worker_echo(int, int, struct slot *);

#endif /* ECHOD_H */
