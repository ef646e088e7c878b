/*
 * Process titles, as ps(1) and pgrep -a show them: written over the
 * command line, as setproctitle(3) does, but exactly (see title.c).
 */

#ifndef ECHOD_TITLE_H
#define ECHOD_TITLE_H

void	title_init(int, char *[], char *[]);
void	title_set(const char *, ...)
	    __attribute__((__format__ (printf, 1, 2)));
void	title_set_str(const char *);

#endif /* ECHOD_TITLE_H */
