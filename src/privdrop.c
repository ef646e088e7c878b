/*
 * Dropping root in a worker.  The master stays root so that it can bind
 * new addresses on a reload; every worker gives up its privileges before
 * it accepts a connection, and cannot take them back.
 */

#include <sys/types.h>

#include <grp.h>
#include <unistd.h>

#include "log.h"
#include "privdrop.h"

/* Whether privdrop() will change anything for this configuration. */
int
privdrop_applies(const struct config *conf)
{
	return conf->user != NULL && geteuid() == 0;
}

/*
 * Enter conf->chroot_dir, then become conf->user and conf->group for
 * good: supplementary groups first (only root may set them), then the
 * group, then the user, each of the real, effective and saved ids.
 * Returns -1 if anything failed or if root can still be regained; the
 * caller must not go on.  Whatever the worker needs from the file
 * system it has opened before this.
 */
int
privdrop(const struct config *conf)
{
	uid_t	 ruid, euid, suid;
	gid_t	 rgid, egid, sgid, gid = conf->gid;

	if (conf->chroot_dir != NULL && geteuid() == 0) {
		if (chroot(conf->chroot_dir) == -1 || chdir("/") == -1) {
			log_warn("chroot %s", conf->chroot_dir);
			return -1;
		}
	}
	if (!privdrop_applies(conf))
		return 0;

	if (setgroups(1, &gid) == -1) {
		log_warn("setgroups %s", conf->group ? conf->group : conf->user);
		return -1;
	}
	if (setresgid(gid, gid, gid) == -1) {
		log_warn("setresgid %lu", (unsigned long)gid);
		return -1;
	}
	if (setresuid(conf->uid, conf->uid, conf->uid) == -1) {
		log_warn("setresuid %s", conf->user);
		return -1;
	}

	if (getresuid(&ruid, &euid, &suid) == -1 ||
	    getresgid(&rgid, &egid, &sgid) == -1) {
		log_warn("getresuid");
		return -1;
	}
	if (ruid != conf->uid || euid != conf->uid || suid != conf->uid ||
	    rgid != gid || egid != gid || sgid != gid) {
		log_warnx("privilege drop to %s left other ids behind",
		    conf->user);
		return -1;
	}
	if (conf->uid != 0 && (setuid(0) != -1 || seteuid(0) != -1)) {
		log_warnx("privilege drop to %s can be undone", conf->user);
		return -1;
	}
	return 0;
}
