/*
 * echod -i (inetd.c): one connection on standard input and output.
 */

#ifndef ECHOD_INETD_H
#define ECHOD_INETD_H

int	inetd_run(const char *, unsigned int);

#endif /* ECHOD_INETD_H */
