// Private to this target (not under include/, so Swift never sees it): sinkhole_endpoint to and
// from struct sockaddr_storage.
#ifndef SINKHOLE_ENDPOINT_SOCKADDR_H
#define SINKHOLE_ENDPOINT_SOCKADDR_H

#include "sinkhole_socket.h"
#include <sys/socket.h>

void sinkhole_fill_sockaddr(const sinkhole_endpoint *e, struct sockaddr_storage *ss, socklen_t *len);
/// An IPv4-mapped IPv6 address comes back as the IPv4 address it is.
void sinkhole_read_sockaddr(const struct sockaddr_storage *ss, sinkhole_endpoint *out);

#endif
