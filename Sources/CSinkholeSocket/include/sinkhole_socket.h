// Batched UDP I/O for the DNS fast path and the catch-all: recvmmsg/sendmmsg over buffers
// allocated once, with the destination address (IP_PKTINFO / IPV6_PKTINFO), the original
// destination of a tproxied datagram (IP_RECVORIGDSTADDR) and the kernel's arrival time
// (SO_TIMESTAMP) of every datagram.
//
// In C because the control-message walk is defined by the CMSG_* macros, which Swift cannot
// import; every pointer stays inside this file and Swift sees indices and copies only.
#ifndef SINKHOLE_SOCKET_H
#define SINKHOLE_SOCKET_H

#include <stddef.h>
#include <stdint.h>

typedef struct sinkhole_datagram_batch sinkhole_datagram_batch;

/// An address as the batch reports it: family 4 or 6 (0 when unknown), 16 bytes of address
/// (IPv4 in the first 4), port in host order.
typedef struct {
    uint8_t family;
    uint8_t bytes[16];
    uint16_t port;
} sinkhole_endpoint;

/// Opens a UDP socket bound to `address` (family 4 or 6) and `port`, non-blocking, with
/// SO_REUSEPORT when `reuse_port` is set (one socket per worker thread), IPV6_V6ONLY for IPv6,
/// packet info and receive timestamps on, and the receive buffer asked to be `receive_buffer`
/// bytes. Returns the descriptor, or -errno; `*failed_call` names the call that failed.
int sinkhole_udp_open(const sinkhole_endpoint *address, int reuse_port, int receive_buffer,
                      const char **failed_call);

/// Asks for the original destination of every datagram (IP_RECVORIGDSTADDR or
/// IPV6_RECVORIGDSTADDR, by the socket's family 4 or 6) and makes the socket transparent
/// (IP_TRANSPARENT / IPV6_TRANSPARENT), which nftables `tproxy` needs to deliver datagrams
/// addressed to other ports and addresses to it. Returns 0, or -errno when the original
/// destination cannot be asked for; `*transparent_error` gets the errno of a refused
/// transparency (EPERM without CAP_NET_RAW or CAP_NET_ADMIN), 0 when it was granted.
int sinkhole_udp_recover_original_destination(int fd, int family, int *transparent_error);

/// The port and receive buffer size the socket got (getsockname, SO_RCVBUF); -errno on failure.
int sinkhole_udp_bound_port(int fd);
int sinkhole_udp_receive_buffer(int fd);

/// A batch of `capacity` datagram slots of `datagram_size` bytes each, and as many reply slots
/// of `reply_size` bytes. NULL when memory is short.
sinkhole_datagram_batch *sinkhole_batch_create(int capacity, int datagram_size, int reply_size);
void sinkhole_batch_destroy(sinkhole_datagram_batch *batch);

/// Reads up to `capacity` datagrams without blocking (recvmmsg, MSG_DONTWAIT) and forgets the
/// replies queued before. Returns how many were read (0 when none were waiting), or -errno.
int sinkhole_batch_receive(sinkhole_datagram_batch *batch, int fd);

/// Datagram `index` (< the last receive's count): its bytes are copied to `out` (at most
/// `out_capacity`) and their count returned; `*truncated` is set when the datagram was longer
/// than its slot or than `out_capacity` and only its start was kept.
size_t sinkhole_batch_datagram(const sinkhole_datagram_batch *batch, int index, uint8_t *out,
                               size_t out_capacity, int *truncated);
/// The sender of datagram `index`, the address it was sent to (family 0 when the kernel gave no
/// packet info), and its arrival time in µs since the epoch (-1 without a timestamp).
void sinkhole_batch_source(const sinkhole_datagram_batch *batch, int index, sinkhole_endpoint *out);
void sinkhole_batch_destination(const sinkhole_datagram_batch *batch, int index, sinkhole_endpoint *out);
int64_t sinkhole_batch_arrival_us(const sinkhole_datagram_batch *batch, int index);
/// The address and port datagram `index` was sent to before tproxy delivered it here (the
/// kernel's IP_ORIGDSTADDR / IPV6_ORIGDSTADDR); family 0 when the socket did not ask for it
/// (`sinkhole_udp_recover_original_destination`).
void sinkhole_batch_original_destination(const sinkhole_datagram_batch *batch, int index,
                                         sinkhole_endpoint *out);

/// Queues `length` bytes from `bytes` as the reply to datagram `index`, sent to its sender from
/// the address it was sent to. Returns 0, or -1 when `length` exceeds a reply slot.
int sinkhole_batch_queue_reply(sinkhole_datagram_batch *batch, int index, const uint8_t *bytes,
                               size_t length);

/// Sends every queued reply (sendmmsg, MSG_DONTWAIT, repeated until all are out or the socket
/// would block). Returns how many were sent; `*unsent` gets how many were not, and `*error`
/// the errno that stopped the sending (0 if none).
int sinkhole_batch_send(sinkhole_datagram_batch *batch, int fd, int *unsent, int *error);

/// Waits until one of `count` descriptors is readable or `timeout_ms` passes; `readable[i]` is
/// set to 1 for each readable one. Returns the number readable, 0 on timeout, or -errno
/// (EINTR is reported as 0).
int sinkhole_wait_readable(const int *fds, int count, int timeout_ms, uint8_t *readable);

#endif
