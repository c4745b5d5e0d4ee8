/* test-client.c: libxousclient alone: local behaviour, and its protocol against a scripted fake xnsd. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xous/xous.h>

#include "clock.h"
#include "wire.h"

#define PAGE 4096u
#define WAIT_MS 5000

/* Descriptors of this process whose target contains what. */
static int count_fds(const char *what) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        int n = 0;

        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d))) {
                char path[300], target[256];
                ssize_t len;

                snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
                len = readlink(path, target, sizeof(target) - 1);
                if (len <= 0)
                        continue;
                target[len] = 0;
                if (strstr(target, what))
                        n++;
        }
        closedir(d);
        return n;
}

/* The first descriptor of a memfd called name, opened with the given access mode. */
static int find_memfd(const char *name, int accmode) {
        char want[96];
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        int found = -1;

        snprintf(want, sizeof(want), "/memfd:%s", name);
        ck_assert_ptr_nonnull(d);
        while (found < 0 && (de = readdir(d))) {
                char path[300], target[256];
                ssize_t len;
                int fd = atoi(de->d_name);

                snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
                len = readlink(path, target, sizeof(target) - 1);
                if (len <= 0 || fd == dirfd(d))
                        continue;
                target[len] = 0;
                if (!strncmp(target, want, strlen(want)) && (fcntl(fd, F_GETFL) & O_ACCMODE) == accmode)
                        found = fd;
        }
        closedir(d);
        return found;
}

static bool maps_contain(const char *what) {
        char line[512];
        bool found = false;
        FILE *f = fopen("/proc/self/maps", "re");

        ck_assert_ptr_nonnull(f);
        while (!found && fgets(line, sizeof(line), f))
                found = strstr(line, what) != NULL;
        fclose(f);
        return found;
}

/* --- xous_strerror ------------------------------------------------------ */

START_TEST(test_strerror_all_codes) {
        for (int i = 0; i <= XOUS_ERR_SECURITY_ERROR; i++) {
                const char *s = xous_strerror((xous_error_t)i);

                ck_assert_ptr_nonnull(s);
                ck_assert_int_gt(strlen(s), 0);
                for (int j = 0; j < i; j++)
                        ck_assert_msg(strcmp(s, xous_strerror((xous_error_t)j)) != 0,
                                      "codes %d and %d share '%s'", i, j, s);
        }
        ck_assert_str_eq(xous_strerror((xous_error_t)40), "unknown error");
        ck_assert_str_eq(xous_strerror((xous_error_t)1000), "unknown error");
        ck_assert_str_eq(xous_strerror((xous_error_t)-1), "unknown error");
}
END_TEST

/* --- buffers ------------------------------------------------------------ */

START_TEST(test_buf_rounds_to_pages) {
        static const struct { size_t ask, want; } cases[] = {
                { 1, PAGE }, { PAGE - 1, PAGE }, { PAGE, PAGE }, { PAGE + 1, 2 * PAGE }, { 5 * PAGE, 5 * PAGE },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                xous_buf_t *buf = xous_buf_new(cases[i].ask);

                ck_assert_ptr_nonnull(buf);
                ck_assert_uint_eq(xous_buf_len(buf), cases[i].want);
                ck_assert_uint_eq((uintptr_t)xous_buf_data(buf) % PAGE, 0);
                xous_buf_free(buf);
        }
}
END_TEST

START_TEST(test_buf_zeroed_and_shared) {
        XOUS_BUF_AUTO xous_buf_t *buf = xous_buf_new(3 * PAGE);
        unsigned char *p, got[8];
        int fd;

        ck_assert_ptr_nonnull(buf);
        p = xous_buf_data(buf);
        for (size_t i = 0; i < xous_buf_len(buf); i++)
                ck_assert_uint_eq(p[i], 0);

        memcpy(p + 2 * PAGE + 5, "xous-buf", 8);
        fd = find_memfd("xous-buf", O_RDWR);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(pread(fd, got, sizeof(got), 2 * PAGE + 5), 8);
        ck_assert_mem_eq(got, "xous-buf", 8);

        ck_assert_int_eq(pwrite(fd, "back", 4, 7), 4);
        ck_assert_mem_eq(p + 7, "back", 4);
}
END_TEST

START_TEST(test_buf_sealed_and_read_only_twin) {
        XOUS_BUF_AUTO xous_buf_t *buf = xous_buf_new(PAGE);
        int rw, ro, seals;

        ck_assert_ptr_nonnull(buf);
        rw = find_memfd("xous-buf", O_RDWR);
        ro = find_memfd("xous-buf", O_RDONLY);
        ck_assert_int_ge(rw, 0);
        ck_assert_int_ge(ro, 0);

        seals = fcntl(rw, F_GET_SEALS);
        ck_assert_int_eq(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
                         F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
        ck_assert_int_eq(seals & F_SEAL_WRITE, 0);
        ck_assert_int_lt(ftruncate(rw, PAGE / 2), 0);
        ck_assert_int_lt(ftruncate(rw, 2 * PAGE), 0);

        /* A Borrow's descriptor cannot be mapped writable. */
        ck_assert_ptr_eq(mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0), MAP_FAILED);
        ck_assert_int_eq(errno, EACCES);
}
END_TEST

START_TEST(test_buf_bad_lengths_and_null) {
        errno = 0;
        ck_assert_ptr_null(xous_buf_new(0));
        ck_assert_int_eq(errno, EINVAL);
        errno = 0;
        ck_assert_ptr_null(xous_buf_new((size_t)UINT32_MAX));
        ck_assert_int_eq(errno, EINVAL);
        errno = 0;
        ck_assert_ptr_null(xous_buf_new(SIZE_MAX));
        ck_assert_int_eq(errno, EINVAL);

        xous_buf_free(NULL);
        xous_buf_freep(NULL);
        ck_assert_ptr_null(xous_buf_data(NULL));
        ck_assert_uint_eq(xous_buf_len(NULL), 0);
}
END_TEST

START_TEST(test_buf_free_releases_everything) {
        int before = count_fds("xous-buf");

        for (int i = 0; i < 64; i++) {
                XOUS_BUF_AUTO xous_buf_t *buf = xous_buf_new(PAGE);

                ck_assert_ptr_nonnull(buf);
                ck_assert_int_eq(count_fds("xous-buf"), before + 2);
        }
        ck_assert_int_eq(count_fds("xous-buf"), before);
        ck_assert(!maps_contain("xous-buf"));
}
END_TEST

/* --- without a daemon ---------------------------------------------------- */

static char nowhere_dir[64];

static void nowhere_setup(void) {
        char path[128];

        snprintf(nowhere_dir, sizeof(nowhere_dir), "/tmp/xns-client-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(nowhere_dir));
        snprintf(path, sizeof(path), "%s/none.sock", nowhere_dir);
        setenv("XOUS_SOCKET", path, 1);
}

static void nowhere_teardown(void) {
        char path[128];

        snprintf(path, sizeof(path), "%s/none.sock", nowhere_dir);
        unlink(path);
        rmdir(nowhere_dir);
}

/* A socket file whose listener is gone: connect() gets ECONNREFUSED. */
static void make_dead_socket(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        close(fd);
}

static void expect_all_unavailable(void) {
        XOUS_BUF_AUTO xous_buf_t *buf = xous_buf_new(PAGE);
        xous_sid_t sid = { { 1, 2, 3, 4 } };
        xous_envelope_t *env = (xous_envelope_t *)&sid;
        xous_scalar_reply_t reply;
        uint32_t offset = 0, valid = 0;
        xous_cid_t cid;
        bool done;

        ck_assert_int_eq(xous_register_name("svc", 0, &sid), XOUS_ERR_UNAVAILABLE);
        ck_assert_int_eq(xous_unregister_server(sid), XOUS_ERR_UNAVAILABLE);
        ck_assert_int_eq(xous_request_connection("svc", &cid), XOUS_ERR_UNAVAILABLE);
        ck_assert_int_eq(xous_request_connection_blocking("svc", &cid), XOUS_ERR_UNAVAILABLE);
        ck_assert_int_eq(xous_trusted_init_done(&done), XOUS_ERR_UNAVAILABLE);
        ck_assert_int_eq(xous_create_server(&sid), XOUS_ERR_UNAVAILABLE);
        ck_assert_int_eq(xous_destroy_server(sid), XOUS_ERR_UNAVAILABLE);
        ck_assert_int_eq(xous_connect(sid, &cid), XOUS_ERR_UNAVAILABLE);
        ck_assert_int_eq(xous_try_connect(sid, &cid), XOUS_ERR_UNAVAILABLE);
        ck_assert_int_eq(xous_disconnect(2), XOUS_ERR_UNAVAILABLE);
        ck_assert_int_eq(xous_try_send_scalar(2, 1, 0, 0, 0, 0), XOUS_ERR_UNAVAILABLE);
        ck_assert_int_eq(xous_blocking_scalar(2, 1, 0, 0, 0, 0, &reply), XOUS_ERR_UNAVAILABLE);
        ck_assert_int_eq(xous_lend(2, 1, buf, 0, 0), XOUS_ERR_UNAVAILABLE);
        ck_assert_int_eq(xous_lend_mut(2, 1, buf, &offset, &valid), XOUS_ERR_UNAVAILABLE);
        ck_assert_int_eq(xous_receive_message(sid, &env), XOUS_ERR_UNAVAILABLE);
        ck_assert_ptr_null(env);
        ck_assert_int_eq(xous_try_receive_message(sid, &env), XOUS_ERR_UNAVAILABLE);
        ck_assert_int_eq(xous_reply_and_receive_next(sid, &env), XOUS_ERR_UNAVAILABLE);
        ck_assert_int_eq(xous_send_scalar(2, 1, 0, 0, 0, 0), XOUS_ERR_UNAVAILABLE);
        ck_assert_int_eq(xous_send(2, 1, buf, 0, 0), XOUS_ERR_UNAVAILABLE);
        ck_assert_ptr_nonnull(xous_buf_data(buf));
}

START_TEST(test_unavailable_when_nothing_listens) {
        uint64_t start = now_ms();

        expect_all_unavailable();
        ck_assert_uint_lt(now_ms() - start, 1000);
}
END_TEST

START_TEST(test_unavailable_when_listener_died) {
        uint64_t start;

        make_dead_socket(getenv("XOUS_SOCKET"));
        start = now_ms();
        expect_all_unavailable();
        ck_assert_uint_lt(now_ms() - start, 1000);
}
END_TEST

START_TEST(test_unavailable_for_unusable_paths) {
        char longpath[200];
        xous_sid_t sid;

        setenv("XOUS_SOCKET", nowhere_dir, 1);          /* a directory */
        ck_assert_int_eq(xous_create_server(&sid), XOUS_ERR_UNAVAILABLE);
        memset(longpath, 'x', sizeof(longpath) - 1);
        longpath[0] = '/';
        longpath[sizeof(longpath) - 1] = 0;
        setenv("XOUS_SOCKET", longpath, 1);             /* longer than sun_path */
        ck_assert_int_eq(xous_create_server(&sid), XOUS_ERR_UNAVAILABLE);
}
END_TEST

/* A listener that must see no connection: bad names never reach the daemon. */
START_TEST(test_bad_names_rejected_locally) {
        static const char *const bad[] = {
                "",
                "\xff",
                "a\xc0\x80",                            /* overlong NUL */
                "\xed\xa0\x80",                         /* surrogate */
                "\xe2\x82",                             /* truncated */
                "\xf4\x90\x80\x80",                     /* above U+10FFFF */
                "0123456789012345678901234567890123456789012345678901234567890123", /* 64 bytes */
        };
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct pollfd p = { .events = POLLIN };
        xous_sid_t sid;
        xous_cid_t cid;

        p.fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", getenv("XOUS_SOCKET"));
        ck_assert_int_eq(bind(p.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        ck_assert_int_eq(listen(p.fd, 8), 0);

        ck_assert_int_eq(xous_register_name(NULL, 0, &sid), XOUS_ERR_INVALID_STRING);
        ck_assert_int_eq(xous_request_connection(NULL, &cid), XOUS_ERR_INVALID_STRING);
        ck_assert_int_eq(xous_request_connection_blocking(NULL, &cid), XOUS_ERR_INVALID_STRING);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                ck_assert_int_eq(xous_register_name(bad[i], 0, &sid), XOUS_ERR_INVALID_STRING);
                ck_assert_int_eq(xous_request_connection(bad[i], &cid), XOUS_ERR_INVALID_STRING);
                ck_assert_int_eq(xous_request_connection_blocking(bad[i], &cid), XOUS_ERR_INVALID_STRING);
        }
        ck_assert_int_eq(poll(&p, 1, 100), 0);
        close(p.fd);
}
END_TEST

START_TEST(test_null_arguments) {
        xous_sid_t sid = { { 0 } };
        XOUS_BUF_AUTO xous_buf_t *buf = xous_buf_new(PAGE);
        uint32_t v = 0;

        ck_assert_int_eq(xous_register_name("ok", 0, NULL), XOUS_ERR_INVALID_ARGUMENT);
        ck_assert_int_eq(xous_request_connection("ok", NULL), XOUS_ERR_INVALID_ARGUMENT);
        ck_assert_int_eq(xous_request_connection_blocking("ok", NULL), XOUS_ERR_INVALID_ARGUMENT);
        ck_assert_int_eq(xous_trusted_init_done(NULL), XOUS_ERR_INVALID_ARGUMENT);
        ck_assert_int_eq(xous_create_server(NULL), XOUS_ERR_INVALID_ARGUMENT);
        ck_assert_int_eq(xous_connect(sid, NULL), XOUS_ERR_INVALID_ARGUMENT);
        ck_assert_int_eq(xous_try_connect(sid, NULL), XOUS_ERR_INVALID_ARGUMENT);
        ck_assert_int_eq(xous_blocking_scalar(2, 0, 0, 0, 0, 0, NULL), XOUS_ERR_INVALID_ARGUMENT);
        ck_assert_int_eq(xous_send(2, 0, NULL, 0, 0), XOUS_ERR_INVALID_ARGUMENT);
        ck_assert_int_eq(xous_lend(2, 0, NULL, 0, 0), XOUS_ERR_INVALID_ARGUMENT);
        ck_assert_int_eq(xous_lend_mut(2, 0, NULL, &v, &v), XOUS_ERR_INVALID_ARGUMENT);
        ck_assert_int_eq(xous_lend_mut(2, 0, buf, NULL, &v), XOUS_ERR_INVALID_ARGUMENT);
        ck_assert_int_eq(xous_lend_mut(2, 0, buf, &v, NULL), XOUS_ERR_INVALID_ARGUMENT);
        ck_assert_int_eq(xous_receive_message(sid, NULL), XOUS_ERR_INVALID_ARGUMENT);
        ck_assert_int_eq(xous_try_receive_message(sid, NULL), XOUS_ERR_INVALID_ARGUMENT);
        ck_assert_int_eq(xous_reply_and_receive_next(sid, NULL), XOUS_ERR_INVALID_ARGUMENT);
        ck_assert_int_eq(xous_return_scalar(NULL, 1), XOUS_ERR_INVALID_ARGUMENT);
        ck_assert_int_eq(xous_return_scalar2(NULL, 1, 2), XOUS_ERR_INVALID_ARGUMENT);
        ck_assert_int_eq(xous_return_scalar5(NULL, (uint32_t[5]){ 0 }), XOUS_ERR_INVALID_ARGUMENT);
        ck_assert_int_eq(xous_forward(NULL, 2, 1), XOUS_ERR_INVALID_ARGUMENT);

        ck_assert_int_eq(xous_envelope_kind(NULL), XOUS_MSG_SCALAR);
        ck_assert_uint_eq(xous_envelope_id(NULL), 0);
        ck_assert_ptr_nonnull(xous_envelope_args(NULL));
        ck_assert_uint_eq(xous_envelope_args(NULL)[3], 0);
        ck_assert_ptr_null(xous_envelope_buf(NULL));
        ck_assert_uint_eq(xous_envelope_buf_len(NULL), 0);
        ck_assert_uint_eq(xous_envelope_offset(NULL), 0);
        ck_assert_uint_eq(xous_envelope_valid(NULL), 0);
        ck_assert_uint_eq(xous_envelope_sender_pid(NULL), 0);
        xous_envelope_set_offset_valid(NULL, 1, 2);
        xous_envelope_drop(NULL);
        xous_envelope_dropp(NULL);
}
END_TEST

/* --- a scripted fake xnsd ------------------------------------------------
 * The test's main thread plays the daemon over a real socket, one frame at
 * a time, while the library's calls run in client threads. */

static struct {
        char dir[64];
        char path[100];
        int listen_fd;
        uint8_t token[XNS_TOKEN_LEN];
        uint8_t next_token;
        unsigned n_keeps;               /* BufKeeps seen (and refused) */
} fake = { .listen_fd = -1 };

static void fake_listen(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        fake.listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fake.listen_fd, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fake.path);
        ck_assert_int_eq(bind(fake.listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        ck_assert_int_eq(listen(fake.listen_fd, 16), 0);
}

static void fake_setup(void) {
        signal(SIGPIPE, SIG_DFL);       /* the library must not need it ignored */
        fake.n_keeps = 0;
        snprintf(fake.dir, sizeof(fake.dir), "/tmp/xns-client-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(fake.dir));
        snprintf(fake.path, sizeof(fake.path), "%s/xns.sock", fake.dir);
        setenv("XOUS_SOCKET", fake.path, 1);
        fake_listen();
}

/* The daemon dies (its listener and the given links close) and a new one starts. */
static void fake_restart(int *conns, size_t n) {
        for (size_t i = 0; i < n; i++)
                close(conns[i]);
        close(fake.listen_fd);
        unlink(fake.path);
        fake_listen();
}

static void fake_teardown(void) {
        if (fake.listen_fd >= 0)
                close(fake.listen_fd);
        unlink(fake.path);
        rmdir(fake.dir);
}

static bool readable(int fd, int ms) {
        struct pollfd p = { .fd = fd, .events = POLLIN };

        return poll(&p, 1, ms) == 1;
}

static int fake_accept(void) {
        int fd;

        ck_assert_msg(readable(fake.listen_fd, WAIT_MS), "the library did not connect");
        fd = accept4(fake.listen_fd, NULL, NULL, SOCK_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        return fd;
}

static void fake_answer(int conn, uint32_t seq, uint32_t error);

/* What a BufKeep must carry: a number, the buffer's length and, beside it,
 * its memfd opened as the kind of lend needs (read-only for a Borrow). */
static void fake_check_keep(const struct xns_request *req, int fd) {
        int mode = req->buf_keep.kind == XNS_KIND_BORROW ? O_RDONLY : O_RDWR;

        ck_assert_uint_ne(req->seq, 0);
        ck_assert_uint_ne(req->buf_keep.buf, 0);
        ck_assert(req->buf_keep.kind == XNS_KIND_BORROW || req->buf_keep.kind == XNS_KIND_MUTABLE_BORROW);
        ck_assert_uint_eq(req->buf_keep.len % PAGE, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fcntl(fd, F_GETFL) & O_ACCMODE, mode);
        close(fd);
        fake.n_keeps++;
}

/* Next request on conn; *fd gets its descriptor (NULL: there must be none).
 * A buffer the library asks to have kept (BufKeep) is refused, as a daemon
 * without room would, after its check; the library then lends by memfd. */
static void fake_recv(int conn, struct xns_request *req, int *fd) {
        uint8_t buf[XNS_FRAME_MAX];
        ssize_t n;
        int rfd;

        for (;;) {
                ck_assert_msg(readable(conn, WAIT_MS), "no request arrived");
                n = xns_frame_recv(conn, buf, sizeof(buf), &rfd, false);
                ck_assert_int_gt(n, 0);
                ck_assert_int_eq(xns_request_decode(req, buf, (size_t)n), 0);
                if (req->op != XNS_OP_BUF_KEEP)
                        break;
                fake_check_keep(req, rfd);
                fake_answer(conn, req->seq, XOUS_ERR_OUT_OF_MEMORY);
        }
        if (fd)
                *fd = rfd;
        else
                ck_assert_int_eq(rfd, -1);
}

static void fake_send(int conn, const struct xns_reply *reply, int fd) {
        uint8_t buf[XNS_FRAME_MAX];
        ssize_t n = xns_reply_encode(reply, buf, sizeof(buf));

        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(xns_frame_send(conn, buf, (size_t)n, fd, false), 0);
}

static void fake_answer(int conn, uint32_t seq, uint32_t error) {
        fake_send(conn, &(struct xns_reply){ .seq = seq, .error = error }, -1);
}

/* The library asks for a channel right after HELLO; refused, it goes on
 * by the socket, which is what this fake daemon speaks. */
static void fake_refuse_channel(int conn) {
        struct xns_request req;
        int fd;

        fake_recv(conn, &req, &fd);
        ck_assert_int_eq(req.op, XNS_OP_CHANNEL);
        ck_assert_int_ge(fd, 0);
        close(fd);
        fake_answer(conn, req.seq, XOUS_ERR_INVALID_ARGUMENT);
}

/* Accepts a link and answers its HELLO: a new token, or checks the known one. */
static int fake_hello(bool want_token) {
        struct xns_request req;
        struct xns_reply reply = { .body = XNS_BODY_TOKEN };
        int conn = fake_accept();

        fake_recv(conn, &req, NULL);
        ck_assert_int_eq(req.op, XNS_OP_HELLO);
        ck_assert_uint_eq(req.hello.version, XNS_PROTOCOL_VERSION);
        ck_assert_uint_ne(req.seq, 0);
        ck_assert_int_eq(req.hello.has_token, want_token);
        reply.seq = req.seq;
        if (want_token) {
                ck_assert_mem_eq(req.hello.token, fake.token, XNS_TOKEN_LEN);
                reply.body = XNS_BODY_NONE;
        } else {
                memset(fake.token, ++fake.next_token, XNS_TOKEN_LEN);
                memcpy(reply.token, fake.token, XNS_TOKEN_LEN);
        }
        fake_send(conn, &reply, -1);
        fake_refuse_channel(conn);
        return conn;
}

/* Expects request op on conn and returns its seq. */
static uint32_t fake_expect(int conn, enum xns_op op, struct xns_request *req) {
        fake_recv(conn, req, NULL);
        ck_assert_int_eq(req->op, op);
        return req->seq;
}

/* Takes the ring a link hands over with its first posted Scalar, checked
 * as xnsd checks it; kick = 1 makes the client send a KICK after posting. */
static struct xns_ring *fake_take_ring(int conn, uint32_t kick) {
        struct xns_request req;
        struct xns_ring *ring;
        struct stat st;
        int fd;

        fake_recv(conn, &req, &fd);
        ck_assert_int_eq(req.op, XNS_OP_RING);
        ck_assert_uint_ne(req.seq, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fcntl(fd, F_GET_SEALS) & (F_SEAL_SHRINK | F_SEAL_GROW), F_SEAL_SHRINK | F_SEAL_GROW);
        ck_assert_int_eq(fstat(fd, &st), 0);
        ck_assert_int_eq(st.st_size, XNS_RING_SIZE);
        ring = mmap(NULL, XNS_RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ck_assert_ptr_ne(ring, MAP_FAILED);
        close(fd);
        ck_assert_uint_eq(ring->head, 0);
        ring->kick = kick;
        fake_answer(conn, req.seq, XOUS_OK);
        return ring;
}

/* Waits until the client has published n Scalars in the ring. */
static void ring_wait_head(struct xns_ring *ring, uint32_t n) {
        for (int i = 0; i < WAIT_MS && __atomic_load_n(&ring->head, __ATOMIC_SEQ_CST) != n; i++)
                usleep(1000);
        ck_assert_uint_eq(__atomic_load_n(&ring->head, __ATOMIC_SEQ_CST), n);
}

static void ring_expect_slot(struct xns_ring *ring, uint32_t i, uint32_t cid, uint32_t id, uint32_t a1) {
        const struct xns_ring_slot *s = &ring->slot[i % XNS_RING_SLOTS];

        ck_assert_uint_eq(s->cid, cid);
        ck_assert_uint_eq(s->id, id);
        ck_assert_uint_eq(s->a[0], a1);
}

static void fake_grant_cid(int conn, uint32_t cid) {
        struct xns_request req;

        fake_expect(conn, XNS_OP_CONNECT, &req);
        ck_assert(req.connect.wait);
        fake_send(conn, &(struct xns_reply){ .seq = req.seq, .body = XNS_BODY_CID, .cid = cid }, -1);
}

/* A sealed segment filled with c, as a caller's buffer would be. */
static int segment_new(const char *name, size_t len, char c, bool read_only) {
        char path[64];
        int fd, ro;
        char *p;

        fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(ftruncate(fd, (off_t)len), 0);
        ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), 0);
        p = malloc(len);
        memset(p, c, len);
        ck_assert_int_eq(pwrite(fd, p, len, 0), (ssize_t)len);
        free(p);
        if (!read_only)
                return fd;
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        ro = open(path, O_RDONLY | O_CLOEXEC);
        close(fd);
        return ro;
}

static void fake_deliver(int conn, uint32_t seq, struct xns_delivery d, int fd) {
        fake_send(conn, &(struct xns_reply){ .seq = seq, .body = XNS_BODY_DELIVERY, .delivery = d }, fd);
        if (fd >= 0)
                close(fd);
}

/* Client threads: the library's side of each script. */
struct client {
        pthread_t thread;
        void (*fn)(void *);
        void *arg;
};

static void *client_main(void *p) {
        struct client *c = p;

        c->fn(c->arg);
        return NULL;
}

static void client_start(struct client *c, void (*fn)(void *), void *arg) {
        c->fn = fn;
        c->arg = arg;
        ck_assert_int_eq(pthread_create(&c->thread, NULL, client_main, c), 0);
}

static void client_join(struct client *c) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += WAIT_MS / 1000;
        ck_assert_msg(pthread_timedjoin_np(c->thread, NULL, &ts) == 0, "client thread hung");
}

static const xous_sid_t test_sid = { { 0x11, 0x22, 0x33, 0x44 } };
static int gate[2];                     /* a client thread waits here before exiting */

static void wait_gate(void) {
        char c;

        ck_assert_int_eq(read(gate[0], &c, 1), 1);
}

static void open_gate(void) {
        ck_assert_int_eq(write(gate[1], "x", 1), 1);
}

static void client_create_server_and_wait(void *arg) {
        xous_sid_t sid;

        ck_assert_int_eq(xous_create_server(&sid), XOUS_OK);
        ck_assert_mem_eq(&sid, &test_sid, sizeof(sid));
        wait_gate();
}

static void client_trusted_init_done(void *arg) {
        bool done = false;

        ck_assert_int_eq(xous_trusted_init_done(&done), *(int *)arg);
        if (*(int *)arg == XOUS_OK)
                ck_assert(done);
}

/* Which of conns carries the next request. */
static int fake_recv_any(int *conns, size_t n, struct xns_request *req) {
        struct pollfd p[8];

        for (size_t i = 0; i < n; i++)
                p[i] = (struct pollfd){ .fd = conns[i], .events = POLLIN };
        ck_assert_int_gt(poll(p, n, WAIT_MS), 0);
        for (size_t i = 0; i < n; i++)
                if (p[i].revents & POLLIN) {
                        fake_recv(conns[i], req, NULL);
                        return (int)i;
                }
        ck_abort_msg("no request");
        return -1;
}

START_TEST(test_links_share_token_and_pool) {
        struct client a, b, c;
        struct xns_request req;
        int ok = XOUS_OK, conns[2];

        ck_assert_int_eq(pipe(gate), 0);
        client_start(&a, client_create_server_and_wait, NULL);
        conns[0] = fake_hello(false);
        fake_expect(conns[0], XNS_OP_CREATE_SERVER, &req);
        ck_assert_uint_ne(req.seq, 0);
        fake_send(conns[0], &(struct xns_reply){ .seq = req.seq, .body = XNS_BODY_SID, .sid = { { 0x11, 0x22, 0x33, 0x44 } } }, -1);

        /* A second thread while the first still lives: its own link, same token. */
        client_start(&b, client_trusted_init_done, &ok);
        conns[1] = fake_hello(true);
        fake_expect(conns[1], XNS_OP_TRUSTED_INIT_DONE, &req);
        fake_send(conns[1], &(struct xns_reply){ .seq = req.seq, .body = XNS_BODY_DONE, .done = 1 }, -1);
        client_join(&b);
        open_gate();
        client_join(&a);

        /* Both threads are gone: a new thread reuses a pooled link. */
        client_start(&c, client_trusted_init_done, &ok);
        int which = fake_recv_any(conns, 2, &req);
        ck_assert_int_eq(req.op, XNS_OP_TRUSTED_INIT_DONE);
        fake_send(conns[which], &(struct xns_reply){ .seq = req.seq, .body = XNS_BODY_DONE, .done = 1 }, -1);
        client_join(&c);
        ck_assert(!readable(fake.listen_fd, 100));
        close(conns[0]);
        close(conns[1]);
}
END_TEST

static xous_buf_t *shared_buf;

/* Timed calls: the answer that crosses the Cancel is taken; a lend that
 * timed out leaves the buffer busy until xnsd closes the pipe it was given. */
static void client_timeouts(void *arg) {
        xous_scalar_reply_t reply = { 0 };
        uint32_t offset = 1, valid = 2;
        xous_cid_t cid = 0;

        ck_assert_int_eq(xous_connect(test_sid, &cid), XOUS_OK);
        ck_assert_int_eq(xous_blocking_scalar_timeout(5, 20, 0, 0, 0, 0, &reply, 20), XOUS_OK);
        ck_assert_uint_eq(reply.count, 1);
        ck_assert_uint_eq(reply.v[0], 21);
        ck_assert_int_eq(xous_blocking_scalar_timeout(5, 21, 0, 0, 0, 0, &reply, 0), XOUS_ERR_TIMEOUT);
        ck_assert_int_eq(xous_lend_mut_timeout(5, 22, shared_buf, &offset, &valid, 20), XOUS_OK);
        ck_assert_uint_eq(offset, 7);
        ck_assert(!xous_buf_busy(shared_buf));
        ck_assert_int_eq(xous_lend_timeout(5, 23, shared_buf, 0, 0, 20), XOUS_ERR_TIMEOUT);
        ck_assert(xous_buf_busy(shared_buf));
        ck_assert_int_eq(xous_lend(5, 24, shared_buf, 0, 0), XOUS_ERR_MEMORY_IN_USE);
        wait_gate();                            /* xnsd let the message go */
        ck_assert(!xous_buf_busy(shared_buf));
        ck_assert_int_eq(xous_lend(5, 25, shared_buf, 0, 0), XOUS_OK);
}

/* Expects the Cancel of seq; its descriptor (a pipe's write end) in *fd. */
static void fake_expect_cancel(int conn, uint32_t seq, int *fd) {
        struct xns_request req;

        fake_recv(conn, &req, fd);
        ck_assert_int_eq(req.op, XNS_OP_CANCEL);
        ck_assert_uint_eq(req.seq, 0);
        ck_assert_uint_eq(req.cancel, seq);
}

START_TEST(test_timeouts_cancel) {
        struct xns_request req;
        struct client c;
        int conn, fd, pipe_fd;

        shared_buf = xous_buf_new(PAGE);
        ck_assert_ptr_nonnull(shared_buf);
        ck_assert_int_eq(pipe(gate), 0);
        client_start(&c, client_timeouts, NULL);
        conn = fake_hello(false);
        fake_grant_cid(conn, 5);

        fake_expect(conn, XNS_OP_SEND, &req);   /* answered only after the Cancel: crossed */
        ck_assert_uint_eq(req.send.kind, XNS_KIND_BLOCKING_SCALAR);
        fake_expect_cancel(conn, req.seq, NULL);
        fake_send(conn, &(struct xns_reply){ .seq = req.seq, .body = XNS_BODY_SCALAR,
                                             .scalar = { .count = 1, .v = { 21 } } }, -1);

        fake_expect(conn, XNS_OP_SEND, &req);   /* 0 ms: cancelled at once */
        fake_expect_cancel(conn, req.seq, NULL);
        fake_answer(conn, req.seq, XOUS_ERR_TIMEOUT);

        fake_recv(conn, &req, &fd);             /* a lend whose answer crosses: the pipe is dropped */
        close(fd);
        fake_expect_cancel(conn, req.seq, &pipe_fd);
        ck_assert_int_ge(pipe_fd, 0);
        fake_send(conn, &(struct xns_reply){ .seq = req.seq, .body = XNS_BODY_MEMORY, .memory = { 7, 8 } }, -1);
        close(pipe_fd);

        fake_recv(conn, &req, &fd);             /* a lend that times out: busy while xnsd holds the pipe */
        close(fd);
        ck_assert_uint_eq(req.send.kind, XNS_KIND_BORROW);
        fake_expect_cancel(conn, req.seq, &pipe_fd);
        ck_assert_int_ge(pipe_fd, 0);
        fake_answer(conn, req.seq, XOUS_ERR_TIMEOUT);
        ck_assert(!readable(conn, 100));        /* MEMORY_IN_USE is the library's own answer */
        close(pipe_fd);
        open_gate();
        fake_recv(conn, &req, &fd);
        close(fd);
        ck_assert_uint_eq(req.send.id, 25);
        fake_answer(conn, req.seq, XOUS_OK);
        client_join(&c);
        xous_buf_free(shared_buf);
        shared_buf = NULL;
        close(gate[0]);
        close(gate[1]);
        close(conn);
}
END_TEST

static void client_send_kinds(void *arg) {
        xous_scalar_reply_t reply;
        uint32_t offset = 1, valid = 2;
        xous_cid_t cid = 0;

        ck_assert_int_eq(xous_connect(test_sid, &cid), XOUS_OK);
        ck_assert_uint_eq(cid, 5);
        ck_assert_int_eq(xous_send_scalar(5, 10, 1, 2, 3, 4), XOUS_OK);
        ck_assert_int_eq(xous_try_send_scalar(5, 11, 0, 0, 0, 0), XOUS_ERR_SERVER_QUEUE_FULL);
        ck_assert_int_eq(xous_blocking_scalar(5, 12, 7, 0, 0, 0, &reply), XOUS_OK);
        ck_assert_uint_eq(reply.count, 2);
        ck_assert_uint_eq(reply.v[0], 8);
        ck_assert_uint_eq(reply.v[1], 9);
        ck_assert_int_eq(xous_lend(5, 13, shared_buf, 3, 4), XOUS_OK);
        ck_assert_int_eq(xous_lend_mut(5, 14, shared_buf, &offset, &valid), XOUS_OK);
        ck_assert_uint_eq(offset, 100);
        ck_assert_uint_eq(valid, 200);
        ck_assert_mem_eq(xous_buf_data(shared_buf), "written by server", 17);
        ck_assert_int_eq(xous_lend(5, 15, shared_buf, 0, 0), XOUS_ERR_SERVER_NOT_FOUND);
        ck_assert_int_eq(xous_send(5, 16, shared_buf, 5, 6), XOUS_ERR_SERVER_QUEUE_FULL);
        ck_assert_ptr_nonnull(xous_buf_data(shared_buf));
        ck_assert_int_eq(xous_send(5, 16, shared_buf, 5, 6), XOUS_OK);
        shared_buf = NULL;
        ck_assert_int_eq(xous_disconnect(5), XOUS_OK);
        ck_assert_int_eq(xous_send_scalar(5, 17, 0, 0, 0, 0), XOUS_ERR_SERVER_NOT_FOUND);
}

START_TEST(test_send_kinds) {
        struct xns_ring *ring;
        struct client c;
        struct xns_request req;
        int conn, fd, buf_fds;
        char *p;

        shared_buf = xous_buf_new(2 * PAGE);
        ck_assert_ptr_nonnull(shared_buf);
        buf_fds = count_fds("xous-buf");
        client_start(&c, client_send_kinds, NULL);
        conn = fake_hello(false);
        fake_grant_cid(conn, 5);

        ring = fake_take_ring(conn, 1);                 /* the first Scalar brings the ring */
        fake_expect(conn, XNS_OP_KICK, &req);           /* it found kick set */
        ck_assert_uint_eq(req.seq, 0);
        ck_assert_uint_eq(ring->head, 1);
        ck_assert_uint_eq(ring->kick, 0);
        ring_expect_slot(ring, 0, 5, 10, 1);
        ck_assert_uint_eq(ring->slot[0].a[3], 4);
        ring->tail = 1;                                 /* taken, as xnsd does on the Kick, */
        munmap(ring, XNS_RING_SIZE);
        fake_send(conn, &(struct xns_reply){ .body = XNS_BODY_ACK }, -1);  /* with an Ack if asked */

        fake_expect(conn, XNS_OP_SEND, &req);           /* a try_ goes only behind a drained ring */
        ck_assert_uint_ne(req.seq, 0);
        ck_assert(req.send.try_);
        fake_answer(conn, req.seq, XOUS_ERR_SERVER_QUEUE_FULL);

        fake_expect(conn, XNS_OP_SEND, &req);
        ck_assert_uint_eq(req.send.kind, XNS_KIND_BLOCKING_SCALAR);
        ck_assert_uint_eq(req.send.a[0], 7);
        fake_send(conn, &(struct xns_reply){ .seq = req.seq, .body = XNS_BODY_SCALAR,
                                             .scalar = { .count = 2, .v = { 8, 9 } } }, -1);

        fake_recv(conn, &req, &fd);
        ck_assert_uint_eq(req.send.kind, XNS_KIND_BORROW);
        ck_assert_uint_eq(req.send.len, 2 * PAGE);
        ck_assert_uint_eq(req.send.offset, 3);
        ck_assert_uint_eq(req.send.valid, 4);
        ck_assert_int_eq(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
        ck_assert_uint_eq(req.send.buf, 0);
        ck_assert_uint_eq(fake.n_keeps, 1);             /* it asked to have it kept first */
        close(fd);
        fake_answer(conn, req.seq, XOUS_OK);

        fake_recv(conn, &req, &fd);
        ck_assert_uint_eq(req.send.kind, XNS_KIND_MUTABLE_BORROW);
        ck_assert_uint_eq(req.send.offset, 1);
        ck_assert_uint_eq(req.send.valid, 2);
        ck_assert_uint_eq(fake.n_keeps, 2);             /* and for lending it mutably */
        p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ck_assert_ptr_ne(p, MAP_FAILED);
        memcpy(p, "written by server", 17);
        munmap(p, 2 * PAGE);
        close(fd);
        fake_send(conn, &(struct xns_reply){ .seq = req.seq, .body = XNS_BODY_MEMORY,
                                             .memory = { 100, 200 } }, -1);

        fake_recv(conn, &req, &fd);
        close(fd);
        ck_assert_uint_eq(fake.n_keeps, 2);             /* refused: not asked again */
        fake_answer(conn, req.seq, XOUS_ERR_SERVER_NOT_FOUND);

        fake_recv(conn, &req, &fd);
        ck_assert_uint_eq(req.send.kind, XNS_KIND_MOVE);
        ck_assert_uint_eq(req.send.len, 2 * PAGE);
        ck_assert_uint_eq(req.send.offset, 5);
        ck_assert_int_eq(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDWR);
        close(fd);
        fake_answer(conn, req.seq, XOUS_ERR_SERVER_QUEUE_FULL);  /* refused: still the caller's */
        fake_recv(conn, &req, &fd);
        close(fd);
        fake_answer(conn, req.seq, XOUS_OK);

        fake_expect(conn, XNS_OP_DISCONNECT, &req);
        ck_assert_uint_eq(req.cid, 5);
        fake_answer(conn, req.seq, XOUS_OK);
        client_join(&c);
        ck_assert(!readable(conn, 100));        /* the last send never left */
        ck_assert_int_eq(count_fds("xous-buf"), buf_fds - 2);
        close(conn);
}
END_TEST

static xous_envelope_t *envs[4];

static void client_receive(void *arg) {
        ck_assert_int_eq(xous_receive_message(test_sid, &envs[*(int *)arg]), XOUS_OK);
}

#define FAULTED 42

static void exit_on_fault(int sig) {
        _exit(FAULTED);
}

START_TEST(test_receive_borrow_read_only_and_return) {
        struct client c;
        struct xns_request req;
        int conn, slot = 0, status;
        xous_envelope_t *env;
        const char *data;
        pid_t pid;

        client_start(&c, client_receive, &slot);
        conn = fake_hello(false);
        fake_expect(conn, XNS_OP_RECEIVE, &req);
        ck_assert(!req.receive.nowait);
        ck_assert(!req.receive.has_ret);
        ck_assert_uint_eq(req.receive.sid.w[2], 0x33);
        fake_deliver(conn, req.seq, (struct xns_delivery){
                .handle = 9, .gen = 3, .kind = XNS_KIND_BORROW, .id = 42, .a = { 1, 2, 3, 4 },
                .len = 2 * PAGE, .offset = 10, .valid = 20, .sender_pid = 777,
        }, segment_new("lent", 2 * PAGE, 'L', true));
        client_join(&c);

        env = envs[0];
        ck_assert_int_eq(xous_envelope_kind(env), XOUS_MSG_BORROW);
        ck_assert_uint_eq(xous_envelope_id(env), 42);
        ck_assert_uint_eq(xous_envelope_args(env)[2], 3);
        ck_assert_uint_eq(xous_envelope_offset(env), 10);
        ck_assert_uint_eq(xous_envelope_valid(env), 20);
        ck_assert_uint_eq(xous_envelope_sender_pid(env), 777);
        ck_assert_uint_eq(xous_envelope_buf_len(env), 2 * PAGE);
        data = xous_envelope_buf(env);
        ck_assert_int_eq(data[0], 'L');
        ck_assert_int_eq(data[2 * PAGE - 1], 'L');
        ck_assert_int_eq(xous_return_scalar(env, 1), XOUS_ERR_DOUBLE_FREE);

        /* Writing to a Borrow faults, as on Xous hardware. */
        pid = fork();
        if (pid == 0) {
                signal(SIGSEGV, exit_on_fault);
                ((volatile char *)xous_envelope_buf(env))[0] = 'W';
                _exit(0);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == FAULTED, "status 0x%x", status);

        xous_envelope_set_offset_valid(env, 11, 21);
        xous_envelope_drop(env);
        fake_expect(conn, XNS_OP_RETURN, &req);
        ck_assert_uint_eq(req.seq, 0);
        ck_assert_uint_eq(req.ret.handle, 9);
        ck_assert_uint_eq(req.ret.gen, 3);
        ck_assert_uint_eq(req.ret.how, XNS_RETURN_MEMORY);
        ck_assert_uint_eq(req.ret.offset, 11);
        ck_assert_uint_eq(req.ret.valid, 21);
        ck_assert(!maps_contain("memfd:lent"));
        ck_assert_int_eq(count_fds("memfd:lent"), 0);
        close(conn);
}
END_TEST

static void client_reply_and_next(void *arg) {
        ck_assert_int_eq(xous_reply_and_receive_next(test_sid, &envs[0]), XOUS_OK);
}

static void client_drop(void *arg) {
        xous_envelope_drop(envs[0]);
}

static void client_try_receive(void *arg) {
        envs[1] = (xous_envelope_t *)&test_sid;
        ck_assert_int_eq(xous_try_receive_message(test_sid, &envs[1]), XOUS_OK);
        ck_assert_ptr_null(envs[1]);
}

START_TEST(test_scalar_answers) {
        struct client c;
        struct xns_request req;
        int conn, slot = 0;

        client_start(&c, client_receive, &slot);
        conn = fake_hello(false);
        fake_expect(conn, XNS_OP_RECEIVE, &req);
        fake_deliver(conn, req.seq, (struct xns_delivery){ .handle = 4, .gen = 1, .kind = XNS_KIND_BLOCKING_SCALAR, .id = 1 }, -1);
        client_join(&c);
        ck_assert_ptr_null(xous_envelope_buf(envs[0]));
        ck_assert_int_eq(xous_return_scalar2(envs[0], 5, 6), XOUS_OK);
        ck_assert_int_eq(xous_return_scalar(envs[0], 7), XOUS_ERR_DOUBLE_FREE);
        ck_assert_int_eq(xous_return_scalar5(envs[0], (uint32_t[5]){ 1, 2, 3, 4, 5 }), XOUS_ERR_DOUBLE_FREE);

        /* The answer rides in the next RECEIVE. */
        client_start(&c, client_reply_and_next, NULL);
        fake_expect(conn, XNS_OP_RECEIVE, &req);
        ck_assert(req.receive.has_ret);
        ck_assert_uint_eq(req.receive.ret.handle, 4);
        ck_assert_uint_eq(req.receive.ret.how, XNS_RETURN_SCALAR);
        ck_assert_uint_eq(req.receive.ret.count, 2);
        ck_assert_uint_eq(req.receive.ret.v[0], 5);
        ck_assert_uint_eq(req.receive.ret.v[1], 6);
        fake_deliver(conn, req.seq, (struct xns_delivery){ .handle = 5, .gen = 1, .kind = XNS_KIND_BLOCKING_SCALAR }, -1);
        client_join(&c);

        /* Unanswered: the drop tells the caller. A Scalar's drop sends nothing. */
        client_start(&c, client_drop, NULL);
        client_join(&c);
        fake_expect(conn, XNS_OP_RETURN, &req);
        ck_assert_uint_eq(req.ret.handle, 5);
        ck_assert_uint_eq(req.ret.how, XNS_RETURN_DROPPED);

        client_start(&c, client_receive, &slot);
        fake_expect(conn, XNS_OP_RECEIVE, &req);
        fake_deliver(conn, req.seq, (struct xns_delivery){ .kind = XNS_KIND_SCALAR, .id = 3 }, -1);
        client_join(&c);
        ck_assert_int_eq(xous_return_scalar(envs[0], 1), XOUS_ERR_DOUBLE_FREE);
        client_start(&c, client_drop, NULL);
        client_join(&c);

        client_start(&c, client_try_receive, NULL);
        fake_expect(conn, XNS_OP_RECEIVE, &req);
        ck_assert(req.receive.nowait);
        fake_answer(conn, req.seq, XOUS_OK);
        client_join(&c);
        ck_assert(!readable(conn, 100));
        close(conn);
}
END_TEST

static void client_receive_fails(void *arg) {
        xous_envelope_t *env = NULL;

        ck_assert_int_eq(xous_receive_message(test_sid, &env), XOUS_ERR_INTERNAL_ERROR);
        ck_assert_ptr_null(env);
        ck_assert_int_eq(xous_receive_message(test_sid, &env), XOUS_ERR_INTERNAL_ERROR);
        ck_assert_int_eq(xous_receive_message(test_sid, &env), XOUS_ERR_INTERNAL_ERROR);
}

/* Memory that cannot be mapped is handed back at once, never left hanging. */
START_TEST(test_unmappable_delivery_is_returned) {
        struct client c;
        struct xns_request req;
        int conn;

        client_start(&c, client_receive_fails, NULL);
        conn = fake_hello(false);
        fake_expect(conn, XNS_OP_RECEIVE, &req);
        fake_deliver(conn, req.seq, (struct xns_delivery){ .handle = 6, .gen = 2, .kind = XNS_KIND_MUTABLE_BORROW,
                                                           .len = PAGE, .offset = 1, .valid = 2 }, -1);
        fake_expect(conn, XNS_OP_RETURN, &req);
        ck_assert_uint_eq(req.ret.handle, 6);
        ck_assert_uint_eq(req.ret.how, XNS_RETURN_MEMORY);
        ck_assert_uint_eq(req.ret.valid, 2);

        fake_expect(conn, XNS_OP_RECEIVE, &req);        /* read-only fd for a MutableBorrow */
        fake_deliver(conn, req.seq, (struct xns_delivery){ .handle = 7, .gen = 2, .kind = XNS_KIND_MUTABLE_BORROW,
                                                           .len = PAGE }, segment_new("ro", PAGE, 0, true));
        fake_expect(conn, XNS_OP_RETURN, &req);
        ck_assert_uint_eq(req.ret.handle, 7);

        fake_expect(conn, XNS_OP_RECEIVE, &req);        /* longer than the segment */
        fake_deliver(conn, req.seq, (struct xns_delivery){ .handle = 8, .gen = 2, .kind = XNS_KIND_BORROW,
                                                           .len = 4 * PAGE }, segment_new("short", PAGE, 0, true));
        fake_expect(conn, XNS_OP_RETURN, &req);
        ck_assert_uint_eq(req.ret.handle, 8);
        client_join(&c);
        ck_assert_int_eq(count_fds("memfd:"), 0);
        close(conn);
}
END_TEST

/* Replies to other seqs are dropped, their descriptors closed. */
START_TEST(test_stale_replies_discarded) {
        struct client c;
        struct xns_request req;
        int conn, ok = XOUS_OK;

        client_start(&c, client_trusted_init_done, &ok);
        conn = fake_hello(false);
        fake_expect(conn, XNS_OP_TRUSTED_INIT_DONE, &req);
        fake_deliver(conn, req.seq + 7, (struct xns_delivery){ .kind = XNS_KIND_MOVE, .len = PAGE },
                     segment_new("stale", PAGE, 0, false));
        fake_send(conn, &(struct xns_reply){ .seq = req.seq, .body = XNS_BODY_DONE, .done = 1 }, -1);
        client_join(&c);
        ck_assert_int_eq(count_fds("memfd:stale"), 0);
        close(conn);
}
END_TEST

static void client_connect_then_lose_daemon(void *arg) {
        xous_scalar_reply_t reply;
        xous_cid_t cid;
        bool done;

        ck_assert_int_eq(xous_connect(test_sid, &cid), XOUS_OK);
        ck_assert_int_eq(xous_blocking_scalar(cid, 1, 0, 0, 0, 0, &reply), XOUS_ERR_UNAVAILABLE);
        wait_gate();                                    /* a new daemon listens */
        ck_assert_int_eq(xous_send_scalar(cid, 1, 0, 0, 0, 0), XOUS_ERR_SERVER_NOT_FOUND);
        ck_assert_int_eq(xous_trusted_init_done(&done), XOUS_OK);
}

START_TEST(test_daemon_restart_starts_new_session) {
        struct client c;
        struct xns_request req;
        int conn;

        ck_assert_int_eq(pipe(gate), 0);
        client_start(&c, client_connect_then_lose_daemon, NULL);
        conn = fake_hello(false);
        fake_grant_cid(conn, 5);
        fake_expect(conn, XNS_OP_SEND, &req);
        fake_restart(&conn, 1);                         /* mid-call */
        open_gate();
        conn = fake_hello(false);                       /* the old token is forgotten */
        fake_expect(conn, XNS_OP_TRUSTED_INIT_DONE, &req);
        fake_send(conn, &(struct xns_reply){ .seq = req.seq, .body = XNS_BODY_DONE, .done = 1 }, -1);
        client_join(&c);
        close(conn);
}
END_TEST

static void client_send_to_dead_daemon(void *arg) {
        xous_cid_t cid;

        ck_assert_int_eq(xous_connect(test_sid, &cid), XOUS_OK);
        wait_gate();
        ck_assert_int_eq(xous_send_scalar(cid, 1, 0, 0, 0, 0), XOUS_ERR_UNAVAILABLE);
        ck_assert_int_eq(xous_send_scalar(cid, 1, 0, 0, 0, 0), XOUS_ERR_UNAVAILABLE);
}

/* Writing to a dead daemon is an error, not SIGPIPE (left at its default here). */
START_TEST(test_send_to_dead_daemon_no_sigpipe) {
        struct client c;
        int conn;

        ck_assert_int_eq(pipe(gate), 0);
        client_start(&c, client_send_to_dead_daemon, NULL);
        conn = fake_hello(false);
        fake_grant_cid(conn, 5);
        close(conn);                                    /* the daemon dies for good */
        close(fake.listen_fd);
        fake.listen_fd = -1;
        open_gate();
        client_join(&c);
}
END_TEST

/* A restart noticed by nobody yet: a new link must not present the dead token. */
START_TEST(test_new_link_after_unnoticed_restart) {
        struct client a, b;
        struct xns_request req;
        int conn, ok = XOUS_OK;

        ck_assert_int_eq(pipe(gate), 0);
        client_start(&a, client_create_server_and_wait, NULL);
        conn = fake_hello(false);
        fake_expect(conn, XNS_OP_CREATE_SERVER, &req);
        fake_send(conn, &(struct xns_reply){ .seq = req.seq, .body = XNS_BODY_SID, .sid = { { 0x11, 0x22, 0x33, 0x44 } } }, -1);
        fake_restart(&conn, 1);

        client_start(&b, client_trusted_init_done, &ok);
        conn = fake_hello(false);
        fake_expect(conn, XNS_OP_TRUSTED_INIT_DONE, &req);
        fake_send(conn, &(struct xns_reply){ .seq = req.seq, .body = XNS_BODY_DONE, .done = 1 }, -1);
        client_join(&b);
        open_gate();
        client_join(&a);
        close(conn);
}
END_TEST

static void client_connect(void *arg) {
        ck_assert_int_eq(xous_connect(test_sid, (xous_cid_t *)arg), XOUS_OK);
}

static void client_send_scalar_5(void *arg) {
        ck_assert_int_eq(xous_send_scalar(5, 2, 0, 0, 0, 0), XOUS_OK);
}

/* The forked child: no CIDs, its own session, and nothing sent for the parent's envelope. */
static int child_after_fork(int sockets_before, xous_envelope_t *env) {
        bool done = false;

        if (count_fds("socket:") != sockets_before - 1)
                return 1;
        xous_envelope_drop(env);
        if (xous_send_scalar(5, 1, 0, 0, 0, 0) != XOUS_ERR_SERVER_NOT_FOUND)
                return 2;
        if (xous_trusted_init_done(&done) != XOUS_OK || !done)
                return 3;
        return 0;
}

START_TEST(test_fork_child_has_own_session) {
        struct xns_ring *ring;
        struct client c;
        struct xns_request req;
        int conn, child_conn, slot = 0, status, sockets;
        xous_cid_t cid = 0;
        pid_t pid;

        client_start(&c, client_receive, &slot);
        conn = fake_hello(false);
        fake_expect(conn, XNS_OP_RECEIVE, &req);
        fake_deliver(conn, req.seq, (struct xns_delivery){ .handle = 11, .gen = 1, .kind = XNS_KIND_MUTABLE_BORROW,
                                                           .len = PAGE }, segment_new("parent", PAGE, 'P', false));
        client_join(&c);
        client_start(&c, client_connect, &cid);
        fake_grant_cid(conn, 5);
        client_join(&c);
        ck_assert_uint_eq(cid, 5);

        sockets = count_fds("socket:");
        pid = fork();
        if (pid == 0)
                _exit(child_after_fork(sockets, envs[0]));
        ck_assert_int_ge(pid, 0);
        child_conn = fake_hello(false);
        fake_expect(child_conn, XNS_OP_TRUSTED_INIT_DONE, &req);
        fake_send(child_conn, &(struct xns_reply){ .seq = req.seq, .body = XNS_BODY_DONE, .done = 1 }, -1);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
        close(child_conn);
        ck_assert(!readable(conn, 100));

        /* The parent still owns the envelope and its CID. */
        client_start(&c, client_send_scalar_5, NULL);
        ring = fake_take_ring(conn, 0);                 /* xnsd looks: no KICK */
        client_join(&c);
        ck_assert_uint_eq(ring->head, 1);
        ring_expect_slot(ring, 0, 5, 2, 0);
        ring->tail = 1;                                 /* taken: the link may serve another thread */
        munmap(ring, XNS_RING_SIZE);
        xous_envelope_drop(envs[0]);
        fake_expect(conn, XNS_OP_RETURN, &req);
        ck_assert_uint_eq(req.ret.handle, 11);
        close(conn);
}
END_TEST

/* 257 Scalars on CID 5, then more until the failure xnsd reported shows. */
static void client_fill_ring(void *arg) {
        for (uint32_t i = 0; i < XNS_RING_SLOTS + 1; i++)
                ck_assert_int_eq(xous_send_scalar(5, 3, i, 0, 0, 0), XOUS_OK);
        ck_assert_int_eq(xous_send_scalar(5, 3, 999, 0, 0, 0), XOUS_ERR_SERVER_NOT_FOUND);
        ck_assert_int_eq(xous_send_scalar(5, 3, 1000, 0, 0, 0), XOUS_OK);  /* reported once */
}

/* A full ring makes the sender ask for room and wait for an Ack; an Ack
 * with an error is reported by the next Scalar on its CID. */
START_TEST(test_ring_full_waits_for_ack) {
        struct xns_ring *ring;
        struct client c;
        xous_cid_t cid = 0;
        int conn;

        client_start(&c, client_connect, &cid);
        conn = fake_hello(false);
        fake_grant_cid(conn, 5);
        client_join(&c);

        client_start(&c, client_fill_ring, NULL);
        ring = fake_take_ring(conn, 0);
        ring_wait_head(ring, XNS_RING_SLOTS);
        for (int i = 0; i < WAIT_MS && !__atomic_load_n(&ring->want_room, __ATOMIC_SEQ_CST); i++)
                usleep(1000);
        ck_assert_uint_eq(ring->want_room, 1);
        ck_assert(!readable(conn, 100));                /* kick clear: no KICK, it just waits */
        usleep(100 * 1000);
        ck_assert_uint_eq(ring->head, XNS_RING_SLOTS);  /* still waiting */
        for (uint32_t i = 0; i < XNS_RING_SLOTS; i++)
                ring_expect_slot(ring, i, 5, 3, i);

        __atomic_store_n(&ring->tail, 1, __ATOMIC_SEQ_CST);
        __atomic_store_n(&ring->want_room, 0, __ATOMIC_SEQ_CST);
        fake_send(conn, &(struct xns_reply){ .body = XNS_BODY_ACK,
                                             .ack = { .error = XOUS_ERR_SERVER_NOT_FOUND, .cid = 5 } }, -1);
        ring_wait_head(ring, XNS_RING_SLOTS + 1);
        ring_expect_slot(ring, XNS_RING_SLOTS, 5, 3, XNS_RING_SLOTS);

        /* the 999 is refused with the error; 1000 waits for room again */
        for (int i = 0; i < WAIT_MS && !__atomic_load_n(&ring->want_room, __ATOMIC_SEQ_CST); i++)
                usleep(1000);
        __atomic_store_n(&ring->tail, 2, __ATOMIC_SEQ_CST);
        fake_send(conn, &(struct xns_reply){ .body = XNS_BODY_ACK }, -1);
        client_join(&c);
        ck_assert_uint_eq(ring->head, XNS_RING_SLOTS + 2);
        ring_expect_slot(ring, XNS_RING_SLOTS + 1, 5, 3, 1000);
        ck_assert(!readable(conn, 0));
        munmap(ring, XNS_RING_SIZE);
        close(conn);
}
END_TEST

static void client_forward(void *arg) {
        xous_envelope_t *env = envs[0];

        ck_assert_int_eq(xous_forward(env, 6, 99), XOUS_ERR_SERVER_NOT_FOUND);
        ck_assert_ptr_nonnull(xous_envelope_buf(env));
        ck_assert_int_eq(xous_forward(env, 6, 99), XOUS_OK);
        ck_assert_ptr_null(xous_envelope_buf(env));
        ck_assert_int_eq(xous_forward(env, 6, 99), XOUS_ERR_DOUBLE_FREE);
        xous_envelope_drop(env);
}

static void client_forward_scalar(void *arg) {
        ck_assert_int_eq(xous_forward(envs[0], 6, 77), XOUS_OK);
        ck_assert_int_eq(xous_forward(envs[0], 6, 77), XOUS_ERR_DOUBLE_FREE);
        xous_envelope_drop(envs[0]);
}

START_TEST(test_forward) {
        struct client c;
        struct xns_request req;
        int conn, fd, slot = 0;
        xous_cid_t cid = 0;

        client_start(&c, client_receive, &slot);
        conn = fake_hello(false);
        fake_expect(conn, XNS_OP_RECEIVE, &req);
        fake_deliver(conn, req.seq, (struct xns_delivery){ .handle = 12, .gen = 4, .kind = XNS_KIND_BORROW,
                                                           .len = PAGE }, segment_new("fwd", PAGE, 'F', true));
        client_join(&c);

        client_start(&c, client_forward, NULL);
        fake_recv(conn, &req, &fd);
        ck_assert_int_eq(req.op, XNS_OP_FORWARD);
        ck_assert_uint_eq(req.forward.handle, 12);
        ck_assert_uint_eq(req.forward.gen, 4);
        ck_assert_uint_eq(req.forward.cid, 6);
        ck_assert_uint_eq(req.forward.id, 99);
        ck_assert_int_eq(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
        close(fd);
        fake_answer(conn, req.seq, XOUS_ERR_SERVER_NOT_FOUND);
        fake_recv(conn, &req, &fd);
        close(fd);
        fake_answer(conn, req.seq, XOUS_OK);
        client_join(&c);
        ck_assert(!readable(conn, 100));                /* forwarded: the drop sent nothing */
        ck_assert(!maps_contain("memfd:fwd"));

        /* A Scalar is forwarded as a fresh send. */
        client_start(&c, client_connect, &cid);
        fake_grant_cid(conn, 6);
        client_join(&c);
        client_start(&c, client_receive, &slot);
        fake_expect(conn, XNS_OP_RECEIVE, &req);
        fake_deliver(conn, req.seq, (struct xns_delivery){ .kind = XNS_KIND_SCALAR, .id = 1, .a = { 5, 6, 7, 8 } }, -1);
        client_join(&c);
        client_start(&c, client_forward_scalar, NULL);
        fake_expect(conn, XNS_OP_SEND, &req);
        ck_assert_uint_eq(req.send.cid, 6);
        ck_assert_uint_eq(req.send.kind, XNS_KIND_SCALAR);
        ck_assert_uint_eq(req.send.id, 77);
        ck_assert_uint_eq(req.send.a[3], 8);
        fake_answer(conn, req.seq, XOUS_OK);
        client_join(&c);
        ck_assert(!readable(conn, 100));
        close(conn);
}
END_TEST

static Suite *client_suite(void) {
        Suite *s = suite_create("client");
        TCase *tc;

        tc = tcase_create("strerror");
        tcase_add_test(tc, test_strerror_all_codes);
        suite_add_tcase(s, tc);

        tc = tcase_create("buf");
        tcase_add_test(tc, test_buf_rounds_to_pages);
        tcase_add_test(tc, test_buf_zeroed_and_shared);
        tcase_add_test(tc, test_buf_sealed_and_read_only_twin);
        tcase_add_test(tc, test_buf_bad_lengths_and_null);
        tcase_add_test(tc, test_buf_free_releases_everything);
        suite_add_tcase(s, tc);

        tc = tcase_create("no-daemon");
        tcase_add_checked_fixture(tc, nowhere_setup, nowhere_teardown);
        tcase_add_test(tc, test_unavailable_when_nothing_listens);
        tcase_add_test(tc, test_unavailable_when_listener_died);
        tcase_add_test(tc, test_unavailable_for_unusable_paths);
        tcase_add_test(tc, test_bad_names_rejected_locally);
        tcase_add_test(tc, test_null_arguments);
        suite_add_tcase(s, tc);

        tc = tcase_create("protocol");
        tcase_add_checked_fixture(tc, fake_setup, fake_teardown);
        tcase_add_test(tc, test_links_share_token_and_pool);
        tcase_add_test(tc, test_send_kinds);
        tcase_add_test(tc, test_timeouts_cancel);
        tcase_add_test(tc, test_receive_borrow_read_only_and_return);
        tcase_add_test(tc, test_scalar_answers);
        tcase_add_test(tc, test_unmappable_delivery_is_returned);
        tcase_add_test(tc, test_stale_replies_discarded);
        tcase_add_test(tc, test_daemon_restart_starts_new_session);
        tcase_add_test(tc, test_send_to_dead_daemon_no_sigpipe);
        tcase_add_test(tc, test_new_link_after_unnoticed_restart);
        tcase_add_test(tc, test_fork_child_has_own_session);
        tcase_add_test(tc, test_forward);
        tcase_add_test(tc, test_ring_full_waits_for_ack);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(client_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
