// See include/sinkhole_listen.h.
#include "sinkhole_listen.h"
#include "endpoint_sockaddr.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int sinkhole_socket_describe(int fd, sinkhole_socket_info *out) {
    memset(out, 0, sizeof *out);
    int value = 0;
    socklen_t len = sizeof value;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &len) != 0) return -errno;
    out->transport = value == SOCK_STREAM ? 1 : value == SOCK_DGRAM ? 2 : 0;
    len = sizeof value;
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &value, &len) != 0) return -errno;
    out->family = value == AF_INET ? 4 : value == AF_INET6 ? 6 : 0;
    len = sizeof value;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &len) != 0) return -errno;
    out->listening = value != 0;
    out->v6only = 1;
    if (out->family == 6) {
        len = sizeof value;
        if (getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &value, &len) != 0) return -errno;
        out->v6only = value != 0;
    }
    if (out->family != 0) {
        struct sockaddr_storage ss;
        len = sizeof ss;
        if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return -errno;
        sinkhole_read_sockaddr(&ss, &out->local);
        if (out->family == 6 && out->local.family == 4) {
            // An IPv6 socket bound to an IPv4-mapped address is described as that address
            // (::ffff:a.b.c.d), not as the IPv4 one it maps: it matches no IPv4 listener.
            uint8_t v4[4];
            memcpy(v4, out->local.bytes, 4);
            memset(out->local.bytes, 0, 10);
            out->local.bytes[10] = 0xff;
            out->local.bytes[11] = 0xff;
            memcpy(out->local.bytes + 12, v4, 4);
            out->local.family = 6;
        }
    }
    return 0;
}

static int make_nonblocking_cloexec(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return -errno;
    int fdflags = fcntl(fd, F_GETFD);
    if (fdflags < 0 || fcntl(fd, F_SETFD, fdflags | FD_CLOEXEC) != 0) return -errno;
    return 0;
}

int sinkhole_tcp_listen(const sinkhole_endpoint *address, int backlog, const char **failed_call) {
    int domain = address->family == 6 ? AF_INET6 : AF_INET;
    int fd = socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { *failed_call = "socket"; return -errno; }
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
        int e = errno; close(fd); *failed_call = "setsockopt(SO_REUSEADDR)"; return -e;
    }
    if (domain == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) {
        int e = errno; close(fd); *failed_call = "setsockopt(IPV6_V6ONLY)"; return -e;
    }
    struct sockaddr_storage ss;
    socklen_t len;
    sinkhole_fill_sockaddr(address, &ss, &len);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        int e = errno; close(fd); *failed_call = "bind"; return -e;
    }
    if (listen(fd, backlog) != 0) {
        int e = errno; close(fd); *failed_call = "listen"; return -e;
    }
    return fd;
}

int sinkhole_tcp_adopt(int fd) {
    return make_nonblocking_cloexec(fd);
}

int sinkhole_udp_adopt(int fd, int family, int receive_buffer, const char **failed_call) {
    int result = make_nonblocking_cloexec(fd);
    if (result != 0) { *failed_call = "fcntl"; return result; }
    // The same arrival details as a socket the sinkhole binds itself.
    result = sinkhole_udp_arrival_options(fd, family, failed_call);
    if (result != 0) return result;
    // Never shrink what the socket unit granted; Linux reports double the usable size.
    int current = 0;
    socklen_t len = sizeof current;
    if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &current, &len) == 0 && current / 2 < receive_buffer) {
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    return 0;
}

int sinkhole_duplicate(int fd) {
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    return copy < 0 ? -errno : copy;
}
