// The sending half of systemd's notification protocol (sd_notify(3)), without libsystemd: one
// datagram to the AF_UNIX socket systemd names in NOTIFY_SOCKET.
//
// In C because the datagram goes to a `sockaddr_un` whose length depends on the kind of name
// (an abstract name is counted, not NUL-terminated); every pointer stays inside this file.
#ifndef SINKHOLE_NOTIFY_H
#define SINKHOLE_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

/// The longest socket name `sinkhole_notify_send` takes (sun_path, less the terminating NUL a
/// path needs or the NUL an abstract name starts with).
#define SINKHOLE_NOTIFY_NAME_MAX 107

/// Sends `message` (`message_length` bytes, newline-separated KEY=VALUE assignments) as one
/// datagram to the AF_UNIX socket `name` (`name_length` bytes, no NUL): a filesystem path, or,
/// when `abstract` is set, a name in the abstract namespace (NOTIFY_SOCKET's "@name" without
/// the "@"). A fresh socket per message, closed before returning, as sd_notify does: nothing
/// is held open between messages and no descriptor leaks into a child.
/// Returns 0, or -errno (-EINVAL for an empty or too long name, -EMSGSIZE when the datagram
/// was cut short).
int sinkhole_notify_send(int abstract, const char *name, size_t name_length, const uint8_t *message,
                         size_t message_length);

#endif
