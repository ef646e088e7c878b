/*
 * Socket addresses as echod shows and compares them: the one place
 * where an address becomes text ("192.0.2.7:57032", "[2001:db8::7]:57032")
 * or a 16-byte key.  No system call: getnameinfo(3) with numeric flags
 * only formats.
 */

#ifndef ECHOD_ADDR_H
#define ECHOD_ADDR_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

/* Wide enough for "[ffff:...:ffff%ifname]:65535". */
#define ADDR_NAME_MAX	96

/*
 * A client's address as 16 bytes, IPv4 in its v4-mapped form, so that
 * one client counts as one whether it came through an IPv4 socket or
 * the dual-stack one.
 */
typedef uint8_t	 addr_key_t[16];

void		 addr_format(const struct sockaddr *, socklen_t, char *,
		    size_t);
void		 addr_format_peer(const struct sockaddr_storage *, socklen_t,
		    char *, size_t);
void		 addr_key(const struct sockaddr_storage *, addr_key_t);
void		 addr_key_raw(int, const void *, addr_key_t);
void		 addr_from_key(const addr_key_t, uint16_t,
		    struct sockaddr_storage *, socklen_t *);
uint16_t	 addr_port(const struct sockaddr_storage *);
socklen_t	 addr_len(const struct sockaddr_storage *);

#endif /* ECHOD_ADDR_H */
