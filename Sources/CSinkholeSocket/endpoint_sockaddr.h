// Private to this target (not under include/, so Swift never sees it): sinkhole_endpoint to and
// from struct sockaddr_storage.
#ifndef SINKHOLE_ENDPOINT_SOCKADDR_H
#define SINKHOLE_ENDPOINT_SOCKADDR_H

#include "sinkhole_socket.h"
#include <sys/socket.h>

void sinkhole_fill_sockaddr(const sinkhole_endpoint *e, struct sockaddr_storage *ss, socklen_t *len);
/// An IPv4-mapped IPv6 address comes back as the IPv4 address it is.
void sinkhole_read_sockaddr(const struct sockaddr_storage *ss, sinkhole_endpoint *out);
/// What every UDP listener must report with each datagram (arrival time, destination address),
/// set on a socket the sinkhole binds and on one adopted from systemd alike: 0, or -errno with
/// the call named. The descriptor is left open either way.
int sinkhole_udp_arrival_options(int fd, int family, const char **failed_call);

#endif
