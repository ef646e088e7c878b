/*
 * The live binary upgrade (upgrade.c): the old master starts the
 * installed binary with its sockets and waits for its word; the new one
 * takes the sockets over.  Descriptors and processes only: what the
 * master does with the outcome is master.c's business.
 */

#ifndef ECHOD_UPGRADE_H
#define ECHOD_UPGRADE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * How long the new master has to serve before the old one gives up on
 * it and kills it; echodctl upgrade waits a little longer.
 */
#define UPGRADE_WAIT_MS		10000

/* The tag echodctl upgrade's deferred answer waits under (control.h). */
#define UPGRADE_TAG		0xffffffffU

/* What upgrade_poll() says, once each. */
#define UPGRADE_READY		1
#define UPGRADE_FAILED		2

/* Both masters. */
void	upgrade_save(int, char *[]);
void	upgrade_stale_oldbin(const char *);
int	upgrade_busy(void);
int	upgrade_owner(void);
pid_t	upgrade_old_master(void);

/* The new master, at start: what it inherited (descriptors from 3 on). */
int	upgrade_inherited(size_t *, int *, int *);
void	upgrade_watch(void);
void	upgrade_served(void);
void	upgrade_settle(const char *);

/* The old master. */
int	upgrade_begin(const int *, size_t, int, int, int, const char *,
	    int64_t, char *, size_t);
int	upgrade_fd(void);
int	upgrade_poll(int, int64_t, char *, size_t);
int64_t	upgrade_next_wakeup(int64_t);
pid_t	upgrade_pid(void);
void	upgrade_abort(void);
void	upgrade_forget(void);
void	upgrade_left(void);

#endif /* ECHOD_UPGRADE_H */
