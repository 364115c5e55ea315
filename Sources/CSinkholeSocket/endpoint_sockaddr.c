// Conversions between sinkhole_endpoint and the kernel's socket addresses, shared by the UDP
// batch code and the listener code.
#include "sinkhole_socket.h"
#include "endpoint_sockaddr.h"

#include <netinet/in.h>
#include <string.h>

void sinkhole_fill_sockaddr(const sinkhole_endpoint *e, struct sockaddr_storage *ss, socklen_t *len) {
    memset(ss, 0, sizeof *ss);
    if (e->family == 6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(e->port);
        memcpy(&s6->sin6_addr, e->bytes, 16);
        *len = sizeof *s6;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(e->port);
        memcpy(&s4->sin_addr, e->bytes, 4);
        *len = sizeof *s4;
    }
}

void sinkhole_read_sockaddr(const struct sockaddr_storage *ss, sinkhole_endpoint *out) {
    memset(out, 0, sizeof *out);
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        // An IPv4-mapped sender on a dual-stack socket is reported as the IPv4 address it is.
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(s6->sin6_addr.s6_addr, mapped, 12) == 0) {
            out->family = 4;
            memcpy(out->bytes, s6->sin6_addr.s6_addr + 12, 4);
        } else {
            out->family = 6;
            memcpy(out->bytes, s6->sin6_addr.s6_addr, 16);
        }
        out->port = ntohs(s6->sin6_port);
    } else if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        out->family = 4;
        memcpy(out->bytes, &s4->sin_addr, 4);
        out->port = ntohs(s4->sin_port);
    }
}
