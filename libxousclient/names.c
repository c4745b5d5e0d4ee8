/* names.c: names, servers and connections: the requests that set up who may talk to whom. */
#include <errno.h>
#include <string.h>

#include "xous-internal.h"

static void sid_from_wire(xous_sid_t *sid, const struct xns_sid *w) {
        memcpy(sid->w, w->w, sizeof(sid->w));
}

/* Checks a user's name locally, so a bad one never reaches the daemon. */
static int name_to_wire(struct xns_name *dst, const char *name) {
        size_t len;

        if (!name)
                return XOUS_ERR_INVALID_STRING;
        len = strnlen(name, XNS_NAME_MAX + 1);
        if (!xns_name_valid(name, len))
                return XOUS_ERR_INVALID_STRING;
        memset(dst, 0, sizeof(*dst));
        dst->len = len;
        memcpy(dst->str, name, len);
        return 0;
}

/* A request answered by a SID. */
static int call_for_sid(struct xns_request *req, xous_sid_t *sid) {
        struct xns_reply reply;
        int r;

        r = xns_call(req, -1, &reply, NULL);
        if (r != 0)
                return r;
        if (reply.body != XNS_BODY_SID)
                return -EBADMSG;
        sid_from_wire(sid, &reply.sid);
        return 0;
}

/* A request answered by a CID, which joins the process's set. */
static int call_for_cid(struct xns_request *req, xous_cid_t *cid) {
        struct xns_reply reply;
        struct link *l;
        int r;

        r = session_link(&l);
        if (r != 0)
                return r;
        r = session_call(l, req, -1, &reply, NULL);
        if (r != 0)
                return r;
        if (reply.body != XNS_BODY_CID || reply.cid < 2)
                return -EBADMSG;
        r = session_add_cid(l->generation, reply.cid);
        if (r < 0)
                return r;
        *cid = reply.cid;
        return 0;
}

/* xous_register_name() - create a server with a random SID under a unique name. */
_public_ xous_error_t xous_register_name(const char *name, uint32_t max_conns, xous_sid_t *sid) {
        struct xns_request req = { .op = XNS_OP_REGISTER_NAME, .register_name.max_conns = max_conns };
        int r;

        if (!sid)
                return XOUS_ERR_INVALID_ARGUMENT;
        r = name_to_wire(&req.register_name.name, name);
        if (r != 0)
                return xous_error_from_result(r);
        return xous_error_from_result(call_for_sid(&req, sid));
}

/* Ends a server; the Scalars held for it here go with it. */
static xous_error_t server_end(enum xns_op op, xous_sid_t sid) {
        struct xns_request req = { .op = op, .sid = xous_sid_to_wire(sid) };
        struct xns_reply reply;
        int r;

        r = xns_call(&req, -1, &reply, NULL);
        if (r == 0 || r == XOUS_ERR_SERVER_NOT_FOUND)
                held_drop(&req.sid);
        return xous_error_from_result(r);
}

/* xous_unregister_server() - remove the name and destroy its server. */
_public_ xous_error_t xous_unregister_server(xous_sid_t sid) {
        return server_end(XNS_OP_UNREGISTER_SERVER, sid);
}

static xous_error_t request_connection(const char *name, bool wait, xous_cid_t *cid) {
        struct xns_request req = { .op = XNS_OP_REQUEST_CONNECTION, .request_connection.wait = wait };
        int r;

        if (!cid)
                return XOUS_ERR_INVALID_ARGUMENT;
        r = name_to_wire(&req.request_connection.name, name);
        if (r != 0)
                return xous_error_from_result(r);
        return xous_error_from_result(call_for_cid(&req, cid));
}

/* xous_request_connection() - a CID to a registered name; SERVER_NOT_FOUND if none. */
_public_ xous_error_t xous_request_connection(const char *name, xous_cid_t *cid) {
        return request_connection(name, false, cid);
}

/* xous_request_connection_blocking() - as above, waiting until the name is registered. */
_public_ xous_error_t xous_request_connection_blocking(const char *name, xous_cid_t *cid) {
        return request_connection(name, true, cid);
}

/* xous_trusted_init_done() - true once every limited name has handed out all its connections. */
_public_ xous_error_t xous_trusted_init_done(bool *done) {
        struct xns_request req = { .op = XNS_OP_TRUSTED_INIT_DONE };
        struct xns_reply reply;
        int r;

        if (!done)
                return XOUS_ERR_INVALID_ARGUMENT;
        r = xns_call(&req, -1, &reply, NULL);
        if (r == 0 && reply.body != XNS_BODY_DONE)
                r = -EBADMSG;
        if (r == 0)
                *done = reply.done != 0;
        return xous_error_from_result(r);
}

/* xous_create_server() - an anonymous server with a random SID. */
_public_ xous_error_t xous_create_server(xous_sid_t *sid) {
        struct xns_request req = { .op = XNS_OP_CREATE_SERVER };

        if (!sid)
                return XOUS_ERR_INVALID_ARGUMENT;
        return xous_error_from_result(call_for_sid(&req, sid));
}

/* xous_destroy_server() - end a server of this process; refused while a message is unanswered. */
_public_ xous_error_t xous_destroy_server(xous_sid_t sid) {
        return server_end(XNS_OP_DESTROY_SERVER, sid);
}

static xous_error_t connect_sid(xous_sid_t sid, bool wait, xous_cid_t *cid) {
        struct xns_request req = {
                .op = XNS_OP_CONNECT,
                .connect.sid = xous_sid_to_wire(sid),
                .connect.wait = wait,
        };

        if (!cid)
                return XOUS_ERR_INVALID_ARGUMENT;
        return xous_error_from_result(call_for_cid(&req, cid));
}

/* xous_connect() - a CID to a SID, waiting until the server exists. */
_public_ xous_error_t xous_connect(xous_sid_t sid, xous_cid_t *cid) {
        return connect_sid(sid, true, cid);
}

/* xous_try_connect() - a CID to a SID; SERVER_NOT_FOUND if it does not exist. */
_public_ xous_error_t xous_try_connect(xous_sid_t sid, xous_cid_t *cid) {
        return connect_sid(sid, false, cid);
}

/* xous_disconnect() - give a CID back. The daemon's answer decides; the
 * CID leaves the local set whenever the daemon answered at all. */
_public_ xous_error_t xous_disconnect(xous_cid_t cid) {
        struct xns_request req = { .op = XNS_OP_DISCONNECT, .cid = cid };
        struct xns_reply reply;
        int r;

        r = xns_call(&req, -1, &reply, NULL);
        if (r >= 0)
                session_remove_cid(cid);
        return xous_error_from_result(r);
}
