/* ring.c: a link's ring of posted Scalars in shared memory (struct xns_ring):
 * mapped when the client hands it over, and drained in order before each
 * frame of the link is read, so a thread's messages keep their order. The
 * client can write anything there at any time: every index is checked and
 * every slot copied before use. */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>


#include "bus.h"
#include "conn.h"
#include "log.h"
#include "macro.h"
#include "ring.h"
#include "route.h"

/* Slots taken per pass before other links get their turn. */
#define RING_SLOTS_PER_PASS XNS_RING_SLOTS

/* A sealed, read-write memfd of exactly XNS_RING_SIZE bytes, mapped here. */
uint32_t ring_attach(struct conn *conn, int fd) {
        struct stat st;
        int seals;
        void *p;

        if (conn->ring)
                return XNS_ERR_MEMORY_IN_USE;
        seals = fcntl(fd, F_GET_SEALS);
        if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW))
                return XNS_ERR_INVALID_ARGUMENT;
        if (fstat(fd, &st) < 0 || st.st_size != XNS_RING_SIZE)
                return XNS_ERR_BAD_ADDRESS;
        if ((fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDWR)
                return XNS_ERR_SHARE_VIOLATION;
        p = mmap(NULL, XNS_RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
                return XNS_ERR_OUT_OF_MEMORY;
        conn->ring = p;
        conn->ring_tail = __atomic_load_n(&conn->ring->head, __ATOMIC_ACQUIRE);
        __atomic_store_n(&conn->ring->tail, conn->ring_tail, __ATOMIC_SEQ_CST);
        __atomic_store_n(&conn->ring->kick, 1, __ATOMIC_SEQ_CST);
        return XNS_OK;
}

void ring_detach(struct conn *conn) {
        if (conn->ring)
                munmap(conn->ring, XNS_RING_SIZE);
        conn->ring = NULL;
        list_unlink(&conn->ring_link);
}

/* Routes one slot: 1 if it waits for room (the ring waits with it). */
static int ring_take(struct conn *conn, bool last) {
        struct xns_ring_slot s = conn->ring->slot[conn->ring_tail % XNS_RING_SLOTS];
        uint32_t error;
        int r;

        conn->ring_tail++;
        r = route_posted(conn, &s, last, &error);
        if (r < 0) {
                conn->ring_error = error;
                conn->ring_error_cid = s.cid;
        }
        return r;
}

/* The client hears of the last failure of this pass, and of room if it
 * waits for it, in one Ack. */
static void ring_ack(struct conn *conn) {
        struct xns_reply reply = {
                .body = XNS_BODY_ACK,
                .ack = { .error = conn->ring_error, .cid = conn->ring_error_cid },
        };
        bool room = __atomic_exchange_n(&conn->ring->want_room, 0, __ATOMIC_SEQ_CST) != 0;

        if (conn->ring_error == XNS_OK && !room)
                return;
        conn->ring_error = XNS_OK;
        conn_queue_reply(conn, &reply, -1);
}

/* Another pass without a Kick, at the end of this wakeup. */
static void ring_ready(struct conn *conn) {
        if (!list_is_linked(&conn->ring_link))
                list_link_tail(&conn->bus->ring_ready, &conn->ring_link);
}

/*
 * ring_drain() - take what the client published, up to a pass's worth.
 *
 * Stops at a Scalar that must wait for room: the link is then not read
 * either, until ring_resume(), and the tail it sees leaves that Scalar in
 * the ring (so tail == head tells the client that all it posted is queued).
 * With the ring empty it sets kick, then looks once more, so that a Scalar
 * published meanwhile is not missed. Returns 1 when a pass ended with
 * Scalars left (another pass is due: the link's next frame must wait for
 * it), 0 otherwise, and -EPROTO for a ring whose head is impossible.
 */
int ring_drain(struct conn *conn) {
        struct xns_ring *ring = conn->ring;
        uint32_t head, taken = 0;
        int r = 0;

        if (!ring || conn->ring_stalled || conn->dead)
                return 0;
        for (;;) {
                head = __atomic_load_n(&ring->head, __ATOMIC_SEQ_CST);
                if (head - conn->ring_tail > XNS_RING_SLOTS)
                        return -EPROTO;
                if (head == conn->ring_tail) {
                        __atomic_store_n(&ring->kick, 1, __ATOMIC_SEQ_CST);
                        head = __atomic_load_n(&ring->head, __ATOMIC_SEQ_CST);
                        if (head == conn->ring_tail || !__atomic_exchange_n(&ring->kick, 0, __ATOMIC_SEQ_CST))
                                break;          /* empty, or the client will kick */
                        continue;
                }
                if (taken++ == RING_SLOTS_PER_PASS) {
                        ring_ready(conn);
                        r = 1;
                        break;
                }
                if (ring_take(conn, false) > 0) {
                        conn_mark_dirty(conn);  /* the loop stops reading it */
                        break;
                }
        }
        __atomic_store_n(&ring->tail, conn->ring_tail - (conn->ring_stalled ? 1 : 0), __ATOMIC_SEQ_CST);
        ring_ack(conn);
        return r;
}

/* The link is going: what its client published was sent, and is routed
 * whatever the queues' state (a full one holds it among the stalled). */
void ring_drain_last(struct conn *conn) {
        struct xns_ring *ring = conn->ring;
        uint32_t head;

        if (!ring)
                return;
        head = __atomic_load_n(&ring->head, __ATOMIC_SEQ_CST);
        if (head - conn->ring_tail > XNS_RING_SLOTS)
                return;
        while (conn->ring_tail != head)
                ring_take(conn, true);
}

/* The Scalar the ring waited on moved into its queue, or failed. */
void ring_resume(struct conn *conn, uint32_t error, uint32_t cid) {
        conn->ring_stalled = NULL;
        if (error != XNS_OK) {
                conn->ring_error = error;
                conn->ring_error_cid = cid;
        }
        ring_ready(conn);
        conn_mark_dirty(conn);
}

/* The links whose rings wait for a pass: after a stall, or a long one. */
void ring_drain_ready(struct list *ready) {
        struct list todo = LIST_INIT(todo);

        while (!list_is_empty(ready)) {
                struct conn *conn = list_first_entry(ready, struct conn, ring_link);

                list_unlink(&conn->ring_link);
                list_link_tail(&todo, &conn->ring_link);
        }
        while (!list_is_empty(&todo)) {
                struct conn *conn = list_first_entry(&todo, struct conn, ring_link);

                list_unlink(&conn->ring_link);
                if (ring_drain(conn) < 0) {
                        log_info("pid %d: broken ring, disconnecting link", (int)conn->pid);
                        bus_conn_disconnect(conn);
                }
        }
}
