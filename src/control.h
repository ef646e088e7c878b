/*
 * The control socket (control.c): the transport of echodctl's commands.
 * It accepts clients, reads each one's command line, checks who sent it,
 * and hands the whole line to the handler the master set; it then writes
 * the handler's answer.  What a command means is the master's business.
 */

#ifndef ECHOD_CONTROL_H
#define ECHOD_CONTROL_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "conf.h"

/* Clients served at once; ppoll() watches the socket and each of them. */
#define CONTROL_CLIENTS_MAX	16
#define CONTROL_POLLFDS		(1 + CONTROL_CLIENTS_MAX)

struct control;

/* A command, as the handler gets it. */
struct control_cmd {
	char		*line;		/* without its newline */
	int		 allowed;	/* may use the socket */
	int		 owner;		/* root or echod's user: may change */
	struct buf	*out;		/* the answer */
	/*
	 * Set by the handler to answer later: control_answer() with the
	 * same tag gives the answer; until then, or defer_until (ms), the
	 * client waits.
	 */
	unsigned int	 defer;
	int64_t		 defer_until;
};

typedef void	 control_handler(void *, struct control_cmd *);

struct control	*control_open(const struct config *, char *, size_t);
struct control	*control_adopt(const struct config *, int, char *, size_t);
int		 control_fd(const struct control *);
void		 control_disown(struct control *);
void		 control_set_handler(struct control *, control_handler *,
		    void *);
void		 control_close(struct control *);
void		 control_forget(struct control *);
size_t		 control_pollfds(struct control *, struct pollfd *, int64_t,
		    int64_t *);
void		 control_service(struct control *, const struct pollfd *,
		    size_t, int64_t);
void		 control_answer(struct control *, unsigned int, int64_t,
		    const char *, ...)
		    __attribute__((__format__ (printf, 4, 5)));

#endif /* ECHOD_CONTROL_H */
