// See include/sinkhole_privileges.h.
#define _GNU_SOURCE
#include "sinkhole_privileges.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

static long lookup_buffer_size(int name) {
    long size = sysconf(name);
    return size > 0 ? size : 16384;
}

int sinkhole_lookup_user(const char *name, unsigned *uid, unsigned *gid) {
    long size = lookup_buffer_size(_SC_GETPW_R_SIZE_MAX);
    char *buffer = malloc((size_t)size);
    if (!buffer) return -ENOMEM;
    struct passwd entry, *found = NULL;
    int result = getpwnam_r(name, &entry, buffer, (size_t)size, &found);
    if (result == 0 && found) {
        *uid = found->pw_uid;
        *gid = found->pw_gid;
    }
    free(buffer);
    if (result != 0) return -result;
    return found ? 0 : 1;
}

int sinkhole_lookup_group(const char *name, unsigned *gid) {
    long size = lookup_buffer_size(_SC_GETGR_R_SIZE_MAX);
    char *buffer = malloc((size_t)size);
    if (!buffer) return -ENOMEM;
    struct group entry, *found = NULL;
    int result = getgrnam_r(name, &entry, buffer, (size_t)size, &found);
    if (result == 0 && found) *gid = found->gr_gid;
    free(buffer);
    if (result != 0) return -result;
    return found ? 0 : 1;
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
