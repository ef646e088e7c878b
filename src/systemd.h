/*
 * echod's side of systemd (systemd.c): the sockets of socket activation,
 * checked before the listeners take them, and what the master tells
 * systemd (sd_notify(3)).
 */

#ifndef ECHOD_SYSTEMD_H
#define ECHOD_SYSTEMD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pool.h"

int	systemd_listen_fds(void);
int	systemd_check_fds(int, int, char *, size_t);
void	systemd_daemonized(void);

void	systemd_ready(const struct pool_counts *, unsigned int, const char *,
	    int64_t);
int64_t	systemd_status(const struct pool_counts *, unsigned int, int64_t);
void	systemd_reloading(void);
void	systemd_reload_failed(const char *);
void	systemd_reloaded(void);
void	systemd_stopping(void);
void	systemd_mainpid(pid_t);

#endif /* ECHOD_SYSTEMD_H */
