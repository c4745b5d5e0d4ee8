/* socket-path.c: where xnsd listens and its clients connect. */
#include <stdlib.h>

#include "socket-path.h"

/*
 * xns_socket_path() - $XOUS_SOCKET if set and not empty, else the system
 * socket, XNS_DEFAULT_SOCKET.
 *
 * The variable is read with secure_getenv(): a program that runs with more
 * privilege than its caller (setuid, setgid, file capabilities) ignores it,
 * so the caller cannot point it, or libxousclient inside it, at a socket of
 * their own. For any other program this is plain getenv().
 */
const char *xns_socket_path(void) {
        const char *p = secure_getenv("XOUS_SOCKET");

        return p && *p ? p : XNS_DEFAULT_SOCKET;
}
