/*
 * The master's state, shared by master.c (signals, the main loop, reload
 * and stop) and pool.c (the workers: start, reap, grow and shrink).
 */

#ifndef ECHOD_MASTER_H
#define ECHOD_MASTER_H

#include <sys/types.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <poll.h>
#include <stdint.h>

#include "buf.h"
#include "conf.h"
#include "control.h"
#include "listener.h"
#include "scoreboard.h"
#include "tcpdiag.h"

/* The master's own view of a worker; index i is scoreboard slot i. */
enum worker_state {
	W_SERVING,	/* accepting and echoing */
	W_DRAINING,	/* told to finish its connection (SIGQUIT) */
	W_STOPPING,	/* told to stop now (SIGTERM) */
};

struct worker {
	pid_t			 pid;		/* 0: free slot */
	unsigned int		 generation;
	enum worker_state	 state;
	int64_t			 started;	/* ms, monotonic */
	int64_t			 deadline;	/* draining, stopping: ms */
};

enum stop_mode {
	RUNNING,
	STOP_GRACEFUL,
	STOP_FAST,
};

struct master {
	struct config		*conf;
	struct listener		*listeners;
	size_t			 nlisteners;
	struct pidfh		*pfh;
	struct scoreboard	*sb;
	struct worker		*workers;	/* SCOREBOARD_SLOTS of them */
	uint32_t		 high_water;	/* slots in use are below */
	unsigned int		 generation;
	enum stop_mode		 stop;
	int			 exit_status;
	int			 wake[2];	/* workers ask for workers */
	struct control		*ctl;
	unsigned int		 awaited;	/* a reload waits for it */
	int64_t			 awaited_until;

	/* Start-up failures: see start_failed() in pool.c. */
	int			 start_failures;	/* in a row */
	int64_t			 next_start;		/* no fork before */
	pid_t			 probe;

	/* Growing and shrinking: see pool_adjust() in pool.c. */
	int			 more_to_start;	/* a batch was cut short */
	size_t			 growth_step;	/* workers started last */
	size_t			 nworkers;	/* serving, current generation */
	int64_t			 fork_failed_logged;
	int64_t			 last_growth;
	int64_t			 next_retire;
	int			 at_max_workers;
	int64_t			 max_workers_logged;
};

/* master.c */
struct pidfh;
void	master_block_signals(void);
int	master_run(struct config *, struct listener *, size_t,
	    struct pidfh *, struct control *);
void	begin_stop(struct master *, int, const char *, int64_t);
void	master_title(const struct master *);

/* report.c */
struct pool_counts {
	size_t	 total, starting, idle, busy, draining;
};

enum report_what {
	REPORT_STATUS,
	REPORT_WORKERS,
	REPORT_CONNS,
};
#define REPORT_JSON	0x01	/* one JSON object, not text for people */

void	count_pool(const struct master *, struct pool_counts *);
void	report(struct master *, struct buf *, enum report_what,
	    unsigned int, int64_t);

/* systemd.c: readiness and status for systemd, sd_notify(3) */
int64_t	systemd_update(struct master *, int64_t);

/* pool.c */
int	pool_init(struct master *);
void	pool_adjust(struct master *, int64_t);
void	pool_reap(struct master *, int64_t);
void	pool_drain(struct master *, int64_t, int);
void	pool_stop_all(struct master *, int64_t);
void	pool_enforce_deadlines(struct master *, int64_t);
int64_t	pool_next_wakeup(const struct master *, int64_t);
size_t	pool_count(const struct master *, int);
size_t	pool_serving(const struct master *);

#endif /* ECHOD_MASTER_H */
