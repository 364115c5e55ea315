#define _GNU_SOURCE
#include "sinkhole_notify.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int sinkhole_notify_send(int abstract, const char *name, size_t name_length, const uint8_t *message,
                         size_t message_length) {
    if (name_length == 0 || name_length > SINKHOLE_NOTIFY_NAME_MAX) return -EINVAL;
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    socklen_t length;
    if (abstract) {
        // Abstract names are counted bytes after a leading NUL: the address length is the
        // name's, and a trailing NUL would be part of another name.
        memcpy(address.sun_path + 1, name, name_length);
        length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + name_length);
    } else {
        memcpy(address.sun_path, name, name_length);
        length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + name_length + 1);
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    // systemd reads the sender's credentials from the kernel (SO_PASSCRED on its end), which is
    // how NotifyAccess=main tells our PID from another's: nothing to attach here.
    ssize_t sent;
    do {
        sent = sendto(fd, message, message_length, MSG_NOSIGNAL, (const struct sockaddr *)&address, length);
    } while (sent < 0 && errno == EINTR);
    int result = sent < 0 ? -errno : ((size_t)sent == message_length ? 0 : -EMSGSIZE);
    close(fd);
    return result;
}
