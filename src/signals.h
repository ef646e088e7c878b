/*
 * The signals echod has no use for (signals.c): ignored, so that none
 * of them kills the master or a worker by its default action.
 */

#ifndef ECHOD_SIGNALS_H
#define ECHOD_SIGNALS_H

void	signals_ignore_unused(void);

#endif /* ECHOD_SIGNALS_H */
