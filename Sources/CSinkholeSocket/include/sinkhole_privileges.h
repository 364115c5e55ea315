// Dropping root after the listeners are bound and capture is open (`user:`/`group:` in the
// configuration, for hosts that start the sinkhole as root without systemd's User=).
#ifndef SINKHOLE_PRIVILEGES_H
#define SINKHOLE_PRIVILEGES_H

/// The uid and primary gid of user `name`. Returns 0, 1 when there is no such user, or -errno.
int sinkhole_lookup_user(const char *name, unsigned *uid, unsigned *gid);
/// The gid of group `name`. Returns 0, 1 when there is no such group, or -errno.
int sinkhole_lookup_group(const char *name, unsigned *gid);

/// Becomes `uid`/`gid` for good: supplementary groups of `user` (initgroups) with `gid`,
/// real/effective/saved gid, then real/effective/saved uid (which clears every capability,
/// since PR_SET_KEEPCAPS is not set). glibc applies each call to every thread of the process,
/// the event loops already running included. Checks that root cannot be regained.
/// Returns 0, or -errno with `*failed_call` naming the call that failed.
int sinkhole_drop_privileges(const char *user, unsigned uid, unsigned gid, const char **failed_call);

#endif
