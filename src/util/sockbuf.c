/* Socket buffers (util/sockbuf.h). */
#include <sys/socket.h>

#include "util/sockbuf.h"

void sockbuf_set(int fd, int size)
{
	static const int opt[2][2] = {{SO_RCVBUFFORCE, SO_RCVBUF}, {SO_SNDBUFFORCE, SO_SNDBUF}};

	for (int i = 0; i < 2; i++)
		if (setsockopt(fd, SOL_SOCKET, opt[i][0], &size, sizeof(size)) < 0)
			(void)setsockopt(fd, SOL_SOCKET, opt[i][1], &size,
			                 sizeof(size)); /* capped */
}
