// See include/sinkhole_socket.h. Every buffer is allocated in sinkhole_batch_create and indexed
// with bounds checked against the batch's own sizes; nothing here keeps a pointer the caller
// gave it beyond the call.
#define _GNU_SOURCE
#include "sinkhole_socket.h"
#include "endpoint_sockaddr.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

// Not in every libc's headers: the values are the kernel's (linux/in.h, linux/in6.h).
#ifndef IP_TRANSPARENT
#define IP_TRANSPARENT 19
#endif
#ifndef IP_RECVORIGDSTADDR
#define IP_RECVORIGDSTADDR 20
#endif
#ifndef IP_ORIGDSTADDR
#define IP_ORIGDSTADDR IP_RECVORIGDSTADDR
#endif
#ifndef IPV6_TRANSPARENT
#define IPV6_TRANSPARENT 75
#endif
#ifndef IPV6_RECVORIGDSTADDR
#define IPV6_RECVORIGDSTADDR 74
#endif
#ifndef IPV6_ORIGDSTADDR
#define IPV6_ORIGDSTADDR IPV6_RECVORIGDSTADDR
#endif

// Room for one IPv6 packet-info, one original-destination (a catch-all socket asks for it) and
// one timestamp control message. A DNS socket uses the first and last only; the larger buffer
// is allocated once per batch, never per datagram.
#define CONTROL_SIZE (CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct sockaddr_in6)) \
                      + CMSG_SPACE(sizeof(struct timeval)))

struct sinkhole_datagram_batch {
    int capacity;
    int datagram_size;
    int reply_size;
    int received;
    uint8_t *datagrams;           // capacity * datagram_size
    uint8_t *replies;             // capacity * reply_size
    struct mmsghdr *in;           // one per datagram slot
    struct iovec *in_iov;
    struct sockaddr_storage *sources;
    uint8_t *in_control;          // capacity * CONTROL_SIZE
    struct mmsghdr *out;          // queued replies, in order
    struct iovec *out_iov;
    uint8_t *out_control;         // capacity * CONTROL_SIZE
    int queued;
};

int sinkhole_udp_arrival_options(int fd, int family, const char **failed_call) {
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMP, &one, sizeof one) != 0) {
        *failed_call = "setsockopt(SO_TIMESTAMP)"; return -errno;
    }
    if (family == 6) {
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one) != 0) {
            *failed_call = "setsockopt(IPV6_RECVPKTINFO)"; return -errno;
        }
    } else if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) != 0) {
        *failed_call = "setsockopt(IP_PKTINFO)"; return -errno;
    }
    return 0;
}

int sinkhole_udp_open(const sinkhole_endpoint *address, int reuse_port, int receive_buffer,
                      const char **failed_call) {
    int domain = address->family == 6 ? AF_INET6 : AF_INET;
    int fd = socket(domain, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { *failed_call = "socket"; return -errno; }
    int one = 1;
#define SET(level, name, value, call) \
    if (setsockopt(fd, level, name, &(value), sizeof(value)) != 0) { int e = errno; close(fd); *failed_call = call; return -e; }
    if (reuse_port) { SET(SOL_SOCKET, SO_REUSEPORT, one, "setsockopt(SO_REUSEPORT)"); }
    if (domain == AF_INET6) { SET(IPPROTO_IPV6, IPV6_V6ONLY, one, "setsockopt(IPV6_V6ONLY)"); }
#undef SET
    int failed = sinkhole_udp_arrival_options(fd, address->family, failed_call);
    if (failed != 0) { close(fd); return failed; }
    // A refused size is not fatal: the granted size is logged with a hint by the caller.
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    struct sockaddr_storage ss;
    socklen_t len;
    sinkhole_fill_sockaddr(address, &ss, &len);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        int e = errno;
        close(fd);
        *failed_call = "bind";
        return -e;
    }
    return fd;
}

int sinkhole_udp_recover_original_destination(int fd, int family, int *transparent_error) {
    int one = 1;
    int level = family == 6 ? IPPROTO_IPV6 : IPPROTO_IP;
    int receive = family == 6 ? IPV6_RECVORIGDSTADDR : IP_RECVORIGDSTADDR;
    int transparent = family == 6 ? IPV6_TRANSPARENT : IP_TRANSPARENT;
    if (setsockopt(fd, level, receive, &one, sizeof one) != 0) return -errno;
    // nftables tproxy hands a datagram only to a transparent socket; without the capability
    // the socket still takes datagrams sent to its own address and port.
    *transparent_error = setsockopt(fd, level, transparent, &one, sizeof one) == 0 ? 0 : errno;
    return 0;
}

int sinkhole_udp_bound_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return -errno;
    sinkhole_endpoint e;
    sinkhole_read_sockaddr(&ss, &e);
    return e.port;
}

int sinkhole_udp_receive_buffer(int fd) {
    int size = 0;
    socklen_t len = sizeof size;
    if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, &len) != 0) return -errno;
    return size;
}

sinkhole_datagram_batch *sinkhole_batch_create(int capacity, int datagram_size, int reply_size) {
    if (capacity <= 0 || datagram_size <= 0 || reply_size <= 0) return NULL;
    sinkhole_datagram_batch *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->capacity = capacity;
    b->datagram_size = datagram_size;
    b->reply_size = reply_size;
    size_t n = (size_t)capacity;
    b->datagrams = calloc(n, (size_t)datagram_size);
    b->replies = calloc(n, (size_t)reply_size);
    b->in = calloc(n, sizeof *b->in);
    b->in_iov = calloc(n, sizeof *b->in_iov);
    b->sources = calloc(n, sizeof *b->sources);
    b->in_control = calloc(n, CONTROL_SIZE);
    b->out = calloc(n, sizeof *b->out);
    b->out_iov = calloc(n, sizeof *b->out_iov);
    b->out_control = calloc(n, CONTROL_SIZE);
    if (!b->datagrams || !b->replies || !b->in || !b->in_iov || !b->sources || !b->in_control
        || !b->out || !b->out_iov || !b->out_control) {
        sinkhole_batch_destroy(b);
        return NULL;
    }
    return b;
}

void sinkhole_batch_destroy(sinkhole_datagram_batch *b) {
    if (!b) return;
    free(b->datagrams); free(b->replies); free(b->in); free(b->in_iov); free(b->sources);
    free(b->in_control); free(b->out); free(b->out_iov); free(b->out_control);
    free(b);
}

int sinkhole_batch_receive(sinkhole_datagram_batch *b, int fd) {
    b->queued = 0;
    b->received = 0;
    for (int i = 0; i < b->capacity; i++) {
        b->in_iov[i].iov_base = b->datagrams + (size_t)i * (size_t)b->datagram_size;
        b->in_iov[i].iov_len = (size_t)b->datagram_size;
        struct msghdr *h = &b->in[i].msg_hdr;
        h->msg_name = &b->sources[i];
        h->msg_namelen = sizeof b->sources[i];
        h->msg_iov = &b->in_iov[i];
        h->msg_iovlen = 1;
        h->msg_control = b->in_control + (size_t)i * CONTROL_SIZE;
        h->msg_controllen = CONTROL_SIZE;
        h->msg_flags = 0;
        b->in[i].msg_len = 0;
    }
    int n = recvmmsg(fd, b->in, (unsigned)b->capacity, MSG_DONTWAIT, NULL);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
        return -errno;
    }
    b->received = n;
    return n;
}

size_t sinkhole_batch_datagram(const sinkhole_datagram_batch *b, int index, uint8_t *out,
                               size_t out_capacity, int *truncated) {
    *truncated = 0;
    if (index < 0 || index >= b->received) return 0;
    size_t length = b->in[index].msg_len;
    size_t stored = length < (size_t)b->datagram_size ? length : (size_t)b->datagram_size;
    size_t copy = stored < out_capacity ? stored : out_capacity;
    memcpy(out, b->datagrams + (size_t)index * (size_t)b->datagram_size, copy);
    // MSG_TRUNC: the datagram was longer than its slot and the rest is lost.
    *truncated = (b->in[index].msg_hdr.msg_flags & MSG_TRUNC) || copy < stored;
    return copy;
}

void sinkhole_batch_source(const sinkhole_datagram_batch *b, int index, sinkhole_endpoint *out) {
    memset(out, 0, sizeof *out);
    if (index < 0 || index >= b->received) return;
    sinkhole_read_sockaddr(&b->sources[index], out);
}

void sinkhole_batch_destination(const sinkhole_datagram_batch *b, int index, sinkhole_endpoint *out) {
    memset(out, 0, sizeof *out);
    if (index < 0 || index >= b->received) return;
    struct msghdr *h = (struct msghdr *)&b->in[index].msg_hdr;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo info;
            memcpy(&info, CMSG_DATA(c), sizeof info);
            out->family = 4;
            memcpy(out->bytes, &info.ipi_addr, 4);
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo info;
            memcpy(&info, CMSG_DATA(c), sizeof info);
            out->family = 6;
            memcpy(out->bytes, &info.ipi6_addr, 16);
        }
    }
}

int64_t sinkhole_batch_arrival_us(const sinkhole_datagram_batch *b, int index) {
    if (index < 0 || index >= b->received) return -1;
    struct msghdr *h = (struct msghdr *)&b->in[index].msg_hdr;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMP) {
            struct timeval tv;
            memcpy(&tv, CMSG_DATA(c), sizeof tv);
            return (int64_t)tv.tv_sec * 1000000 + (int64_t)tv.tv_usec;
        }
    }
    return -1;
}

void sinkhole_batch_original_destination(const sinkhole_datagram_batch *b, int index,
                                         sinkhole_endpoint *out) {
    memset(out, 0, sizeof *out);
    if (index < 0 || index >= b->received) return;
    struct msghdr *h = (struct msghdr *)&b->in[index].msg_hdr;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
        if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_ORIGDSTADDR)
            || (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_ORIGDSTADDR)) {
            struct sockaddr_storage ss;
            memset(&ss, 0, sizeof ss);
            size_t length = c->cmsg_len - CMSG_LEN(0);
            memcpy(&ss, CMSG_DATA(c), length < sizeof ss ? length : sizeof ss);
            sinkhole_read_sockaddr(&ss, out);
        }
    }
}

int sinkhole_batch_queue_reply(sinkhole_datagram_batch *b, int index, const uint8_t *bytes,
                               size_t length) {
    if (index < 0 || index >= b->received || length > (size_t)b->reply_size || b->queued >= b->capacity) {
        return -1;
    }
    int q = b->queued++;
    uint8_t *slot = b->replies + (size_t)q * (size_t)b->reply_size;
    memcpy(slot, bytes, length);
    b->out_iov[q].iov_base = slot;
    b->out_iov[q].iov_len = length;
    struct msghdr *h = &b->out[q].msg_hdr;
    memset(h, 0, sizeof *h);
    h->msg_name = &b->sources[index];
    h->msg_namelen = b->in[index].msg_hdr.msg_namelen;
    h->msg_iov = &b->out_iov[q];
    h->msg_iovlen = 1;
    // The reply leaves from the address the query was sent to, so a client of a wildcard
    // listener on a host with several addresses sees the server it asked answer it.
    sinkhole_endpoint destination;
    sinkhole_batch_destination(b, index, &destination);
    uint8_t *control = b->out_control + (size_t)q * CONTROL_SIZE;
    memset(control, 0, CONTROL_SIZE);
    if (destination.family == 4 && b->sources[index].ss_family == AF_INET) {
        h->msg_control = control;
        h->msg_controllen = CMSG_SPACE(sizeof(struct in_pktinfo));
        struct cmsghdr *c = CMSG_FIRSTHDR(h);
        c->cmsg_level = IPPROTO_IP;
        c->cmsg_type = IP_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
        struct in_pktinfo info;
        memset(&info, 0, sizeof info);
        memcpy(&info.ipi_spec_dst, destination.bytes, 4);
        memcpy(CMSG_DATA(c), &info, sizeof info);
    } else if (destination.family == 6 && b->sources[index].ss_family == AF_INET6) {
        h->msg_control = control;
        h->msg_controllen = CMSG_SPACE(sizeof(struct in6_pktinfo));
        struct cmsghdr *c = CMSG_FIRSTHDR(h);
        c->cmsg_level = IPPROTO_IPV6;
        c->cmsg_type = IPV6_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
        struct in6_pktinfo info;
        memset(&info, 0, sizeof info);
        memcpy(&info.ipi6_addr, destination.bytes, 16);
        memcpy(CMSG_DATA(c), &info, sizeof info);
    }
    b->out[q].msg_len = 0;
    return 0;
}

int sinkhole_batch_send(sinkhole_datagram_batch *b, int fd, int *unsent, int *error) {
    int sent = 0, skipped = 0;
    *error = 0;
    while (sent < b->queued) {
        int n = sendmmsg(fd, b->out + sent, (unsigned)(b->queued - sent), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            // EAGAIN: the socket's send buffer is full; anything else (an ICMP error reported
            // on the socket, an unroutable source) concerns the first reply only: skip it.
            if (errno == EAGAIN || errno == EWOULDBLOCK) { *error = errno; break; }
            *error = errno;
            sent += 1;
            skipped += 1;
            continue;
        }
        sent += n;
    }
    *unsent = skipped + (b->queued - sent);
    int delivered = b->queued - *unsent;
    b->queued = 0;
    return delivered;
}

int sinkhole_wait_readable(const int *fds, int count, int timeout_ms, uint8_t *readable) {
    struct pollfd polls[64];
    if (count > 64) count = 64;
    for (int i = 0; i < count; i++) {
        polls[i].fd = fds[i];
        polls[i].events = POLLIN;
        polls[i].revents = 0;
        readable[i] = 0;
    }
    int n = poll(polls, (nfds_t)count, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    int ready = 0;
    for (int i = 0; i < count; i++) {
        if (polls[i].revents & (POLLIN | POLLERR)) { readable[i] = 1; ready++; }
    }
    return ready;
}
