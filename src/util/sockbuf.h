/* Socket buffers for datagram sockets that must ride out bursts. */
#ifndef RIKE_UTIL_SOCKBUF_H
#define RIKE_UTIL_SOCKBUF_H

/*
 * Set SO_RCVBUF and SO_SNDBUF of fd to size octets. The defaults (~200 KiB,
 * a few hundred small datagrams) overflow whenever the process is not
 * scheduled at once. Best effort: without CAP_NET_ADMIN the kernel caps the
 * sizes at net.core.rmem_max/wmem_max.
 */
void sockbuf_set(int fd, int size);

#endif
