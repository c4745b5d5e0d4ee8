/* ring.c: a link's ring of posted Scalars in shared memory (struct xns_ring):
 * mapped when the client hands it over; route.c takes it, in order, before
 * each frame of the link is read, so a thread's messages keep their order.
 * The client can write anything there at any time: every index is checked
 * and every slot copied before use. */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>


#include "conn.h"
#include "macro.h"
#include "memfd.h"
#include "ring.h"

/* A memfd_check() failure in the daemon's terms, for the ring here and for
 * what a message lends or moves (route.c): a memfd without the seals is
 * -EINVAL (INVALID_ARGUMENT), the wrong size -EFAULT (BAD_ADDRESS), the
 * wrong access mode -EPERM (SHARE_VIOLATION). */
int ring_memfd_result(int r) {
        if (r == -EFAULT)
                return -EFAULT;
        if (r == -EACCES)
                return -EPERM;
        return -EINVAL;
}

/* A sealed, read-write memfd of exactly XNS_RING_SIZE bytes, mapped here;
 * -EBUSY when the link has a ring already. */
int ring_attach(struct conn *conn, int fd) {
        void *p;
        int r;

        if (conn->ring)
                return -EBUSY;
        r = memfd_check(fd, F_SEAL_SHRINK | F_SEAL_GROW, XNS_RING_SIZE, XNS_RING_SIZE, O_RDWR);
        if (r < 0)
                return ring_memfd_result(r);
        p = mmap(NULL, XNS_RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
                return -ENOMEM;
        conn->ring = p;
        conn->ring_tail = __atomic_load_n(&conn->ring->head, __ATOMIC_ACQUIRE);
        __atomic_store_n(&conn->ring->tail, conn->ring_tail, __ATOMIC_SEQ_CST);
        __atomic_store_n(&conn->ring->kick, 1, __ATOMIC_SEQ_CST);
        return 0;
}

void ring_detach(struct conn *conn) {
        if (conn->ring)
                munmap(conn->ring, XNS_RING_SIZE);
        conn->ring = NULL;
        list_unlink(&conn->ring_link);
}

/* The client hears of the last failure of this pass, and of room if it
 * waits for it, in one Ack. */
static void ring_ack(struct conn *conn) {
        struct xns_reply reply = {
                .body = XNS_BODY_ACK,
                .ack = { .error = xns_error_from_errno(conn->ring_error), .cid = conn->ring_error_cid },
        };
        bool room = __atomic_exchange_n(&conn->ring->want_room, 0, __ATOMIC_SEQ_CST) != 0;

        if (conn->ring_error == 0 && !room)
                return;
        conn->ring_error = 0;
        conn_queue_reply(conn, &reply, -1);
}

/* ring_ready() - another pass without a Kick, at the end of this wakeup. */
void ring_ready(struct conn *conn) {
        if (!list_is_linked(&conn->ring_link))
                list_link_tail(conn->ring_ready, &conn->ring_link);
}

/*
 * ring_available() - how many Scalars the client published that are not
 * taken yet. With none it sets kick, then looks once more, so that a Scalar
 * published meanwhile is not missed (0: empty, and the client will kick).
 * -EPROTO for a ring whose head is impossible.
 */
int ring_available(struct conn *conn) {
        struct xns_ring *ring = conn->ring;
        uint32_t head;

        for (;;) {
                head = __atomic_load_n(&ring->head, __ATOMIC_SEQ_CST);
                if (head - conn->ring_tail > XNS_RING_SLOTS)
                        return -EPROTO;
                if (head != conn->ring_tail)
                        return (int)(head - conn->ring_tail);
                __atomic_store_n(&ring->kick, 1, __ATOMIC_SEQ_CST);
                head = __atomic_load_n(&ring->head, __ATOMIC_SEQ_CST);
                if (head == conn->ring_tail || !__atomic_exchange_n(&ring->kick, 0, __ATOMIC_SEQ_CST))
                        return 0;
        }
}

/* ring_left() - what the client published and is not taken yet, without
 * asking for a kick (the link is going); 0 for an impossible head. */
uint32_t ring_left(const struct conn *conn) {
        uint32_t head;

        if (!conn->ring)
                return 0;
        head = __atomic_load_n(&conn->ring->head, __ATOMIC_SEQ_CST);
        return head - conn->ring_tail > XNS_RING_SLOTS ? 0 : head - conn->ring_tail;
}

/* ring_take() - a copy of the next slot (ring_available() said there is
 * one): the client may scribble on the ring at any time. */
void ring_take(struct conn *conn, struct xns_ring_slot *out) {
        *out = conn->ring->slot[conn->ring_tail % XNS_RING_SLOTS];
        conn->ring_tail++;
}

/* ring_fail() - a Scalar taken from the ring could not be queued: the
 * client hears of it in the pass's Ack. */
void ring_fail(struct conn *conn, int result, uint32_t cid) {
        conn->ring_error = result;
        conn->ring_error_cid = cid;
}

/*
 * ring_pass_end() - publish the tail and Ack what the client must hear.
 *
 * The tail it sees leaves a Scalar that waits for room in the ring (so
 * tail == head tells the client that all it posted is queued), and stalled
 * says whether one does: the client then knows that xnsd reads nothing
 * more of the link for now. Both are written before want_room is looked
 * at: a client that asked for an Ack and then read them either saw this
 * pass's values or gets the Ack.
 */
void ring_pass_end(struct conn *conn) {
        __atomic_store_n(&conn->ring->stalled, conn->ring_stalled ? 1 : 0, __ATOMIC_SEQ_CST);
        __atomic_store_n(&conn->ring->tail, conn->ring_tail - (conn->ring_stalled ? 1 : 0), __ATOMIC_SEQ_CST);
        ring_ack(conn);
}

/* The Scalar the ring waited on moved into its queue, or failed. */
void ring_resume(struct conn *conn, int result, uint32_t cid) {
        conn->ring_stalled = NULL;
        if (result < 0)
                ring_fail(conn, result, cid);
        ring_ready(conn);
        conn_mark_dirty(conn);
}
