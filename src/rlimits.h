/*
 * The workers' resource limits (rlimits.c).
 */

#ifndef ECHOD_RLIMITS_H
#define ECHOD_RLIMITS_H

#include "conf.h"

int	limits_highest_fd(void);
void	limits_apply(const struct config *, int);
void	limits_allow_core(const struct config *);
void	limits_check(const struct config *);

#endif /* ECHOD_RLIMITS_H */
