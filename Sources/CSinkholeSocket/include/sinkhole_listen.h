// Listening sockets bound before any service starts, or handed over by systemd (socket
// activation): binding, describing a passed socket, and making an adopted one what the
// sinkhole would have made. In C for the socket options and sockaddr handling; Swift sees
// descriptors and plain values only.
#ifndef SINKHOLE_LISTEN_H
#define SINKHOLE_LISTEN_H

#include "sinkhole_socket.h"

/// What a descriptor is: transport 1 = TCP (SOCK_STREAM), 2 = UDP (SOCK_DGRAM), 0 = anything
/// else; family 4 or 6, 0 for any other (AF_UNIX, AF_NETLINK...); `listening` from
/// SO_ACCEPTCONN; `v6only` from IPV6_V6ONLY (1 for IPv4 sockets); `local` from getsockname.
typedef struct {
    int transport;
    int family;
    int listening;
    int v6only;
    sinkhole_endpoint local;
} sinkhole_socket_info;

/// Describes `fd`. Returns 0, or -errno (EBADF: not an open descriptor; ENOTSOCK: not a socket).
int sinkhole_socket_describe(int fd, sinkhole_socket_info *out);

/// Opens a TCP listener on `address`: non-blocking, close-on-exec, SO_REUSEADDR (a restart
/// binds while old connections sit in TIME_WAIT), IPV6_V6ONLY for IPv6 (so the wildcard pair
/// can both bind), listening with `backlog`. Returns the descriptor, or -errno with
/// `*failed_call` naming the call that failed.
int sinkhole_tcp_listen(const sinkhole_endpoint *address, int backlog, const char **failed_call);

/// Makes a passed TCP listener non-blocking and close-on-exec. Returns 0 or -errno.
int sinkhole_tcp_adopt(int fd);

/// Makes a passed UDP socket what sinkhole_udp_open makes: non-blocking, close-on-exec, packet
/// info and receive timestamps on, and a receive buffer of at least `receive_buffer` bytes
/// asked for (the socket unit's ReceiveBuffer= may have granted more already). `family` is 4
/// or 6. Returns 0, or -errno with `*failed_call` naming the call.
int sinkhole_udp_adopt(int fd, int family, int receive_buffer, const char **failed_call);

/// A second descriptor for the same socket, close-on-exec (each UDP worker closes its own).
/// Returns it, or -errno.
int sinkhole_duplicate(int fd);

#endif
