// See include/sinkhole_privileges.h.
#define _GNU_SOURCE
#include "sinkhole_privileges.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

// The _r lookups fail with ERANGE when an entry does not fit the buffer (a group with many
// members, an LDAP user), and glibc's sysconf hint is only 1024: grow it and try again, up to
// a bound no real entry reaches.
enum { lookup_buffer_start = 16384, lookup_buffer_limit = 1 << 24 };

int sinkhole_lookup_user(const char *name, unsigned *uid, unsigned *gid) {
    for (size_t size = lookup_buffer_start; size <= lookup_buffer_limit; size *= 2) {
        char *buffer = malloc(size);
        if (!buffer) return -ENOMEM;
        struct passwd entry, *found = NULL;
        int result = getpwnam_r(name, &entry, buffer, size, &found);
        if (result == 0 && found) {
            *uid = found->pw_uid;
            *gid = found->pw_gid;
        }
        free(buffer);
        if (result == ERANGE) continue;
        if (result != 0) return -result;
        return found ? 0 : 1;
    }
    return -ERANGE;
}

int sinkhole_lookup_group(const char *name, unsigned *gid) {
    for (size_t size = lookup_buffer_start; size <= lookup_buffer_limit; size *= 2) {
        char *buffer = malloc(size);
        if (!buffer) return -ENOMEM;
        struct group entry, *found = NULL;
        int result = getgrnam_r(name, &entry, buffer, size, &found);
        if (result == 0 && found) *gid = found->gr_gid;
        free(buffer);
        if (result == ERANGE) continue;
        if (result != 0) return -result;
        return found ? 0 : 1;
    }
    return -ERANGE;
}

int sinkhole_drop_privileges(const char *user, unsigned uid, unsigned gid, const char **failed_call) {
    if (initgroups(user, gid) != 0) { *failed_call = "initgroups"; return -errno; }
    if (setresgid(gid, gid, gid) != 0) { *failed_call = "setresgid"; return -errno; }
    if (setresuid(uid, uid, uid) != 0) { *failed_call = "setresuid"; return -errno; }
    // Paranoia that costs nothing: a uid of 0 in the configuration, or a kernel that kept the
    // saved uid, would leave the way back open.
    if (uid != 0 && setuid(0) == 0) { *failed_call = "setuid(0) succeeded after the drop"; return -EPERM; }
    return 0;
}
