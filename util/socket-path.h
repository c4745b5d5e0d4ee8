/* socket-path.h: where xnsd listens and its clients connect. */
#pragma once

#define XNS_DEFAULT_SOCKET "/run/xns/xns.sock"

const char *xns_socket_path(void);
