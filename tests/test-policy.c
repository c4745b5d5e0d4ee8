/* test-policy.c: the policy file (xnsd --policy): names reserved for users or
 * groups, names only some may connect to, and a bad file refused at start.
 * The other user is nobody (65534), reached by setuid in a child; without
 * root the suite skips its cases. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define NOBODY 65534
#define NOBODY_GID 100                  /* not 65534: a group rule must not match the uid */
#define NOBODY_SUPP 4242                /* a supplementary group */

static char policy_path[64];

static const char policy_text[] =
        "# reserved names\n"
        "own pol.root uid=0\n"
        "own \"pol nobody *\" uid=65534   # a prefix, quoted for its spaces\n"
        "\n"
        "connect pol.private uid=0\n"
        "connect pol.group gid=100\n"
        "connect pol.supp gid=4242\n"
        "connect pol.gid65534 gid=65534\n";

static void write_policy(void) {
        FILE *f;

        snprintf(policy_path, sizeof(policy_path), "/tmp/xns-policy-%d", (int)getpid());
        f = fopen(policy_path, "we");
        if (!f || fputs(policy_text, f) < 0 || fclose(f) != 0)
                ck_abort_msg("cannot write %s", policy_path);
}

static void setup_policy(void) {
        const char *extra[] = { "--policy", policy_path, NULL };
        char dir[96];

        write_policy();
        harness_daemon_start_args(extra, true);
        snprintf(dir, sizeof(dir), "%s", harness_socket_path());
        chmod(dirname(dir), 0755);      /* nobody must reach the socket */
}

static void teardown_policy(void) {
        harness_teardown();
        unlink(policy_path);
}

/* uid 65534, primary group 100, supplementary group 4242. */
static void become_nobody(void) {
        gid_t supp = NOBODY_SUPP;

        EXPECT(setgroups(1, &supp) == 0);
        EXPECT(setgid(NOBODY_GID) == 0);
        EXPECT(setuid(NOBODY) == 0);
}

static bool can_test(void) {
        if (geteuid() == 0)
                return true;
        fprintf(stderr, "SKIP: test-policy needs root to act as a second user\n");
        return false;
}

/* In a child as nobody: register the name, report the result, and keep the
 * name until told to go. */
static void nobody_registers(void *name) {
        xous_sid_t sid;

        become_nobody();
        parent_send_u32(xous_register_name(name, 0, &sid));
        parent_recv_u32();
}

static xous_error_t nobody_register(const char *name) {
        struct proc p;
        uint32_t e;

        proc_start(&p, "nobody", nobody_registers, (void *)name);
        e = proc_recv_u32(&p);
        proc_send_u32(&p, 0);
        proc_wait_exit(&p, 0);
        return e;
}

static void nobody_connects(void *name) {
        xous_cid_t cid;

        become_nobody();
        parent_send_u32(xous_request_connection(name, &cid));
}

static xous_error_t nobody_connect(const char *name) {
        struct proc p;
        uint32_t e;

        proc_start(&p, "nobody", nobody_connects, (void *)name);
        e = proc_recv_u32(&p);
        proc_wait_exit(&p, 0);
        return e;
}

static void expect_logged(const char *needle) {
        EXPECT_MSG(harness_daemon_log_lines(needle, NULL, 2000) > 0, "xnsd did not log '%s'", needle);
}

START_TEST(reserved_names) {
        xous_sid_t sid;

        if (!can_test())
                return;
        /* Reserved for root: nobody is refused, root may. */
        EXPECT_ERR(nobody_register("pol.root"), XOUS_ERR_ACCESS_DENIED);
        EXPECT_OK(xous_register_name("pol.root", 0, &sid));
        /* A prefix reserved for nobody: the other way round. */
        EXPECT_ERR(xous_register_name("pol nobody 1", 0, &sid), XOUS_ERR_ACCESS_DENIED);
        EXPECT_OK(nobody_register("pol nobody 1"));
        EXPECT_OK(nobody_register("pol nobody and more"));
        /* A name no rule covers: anyone. */
        EXPECT_OK(nobody_register("pol.free"));
        expect_logged("may not register 'pol.root'");
}
END_TEST

START_TEST(restricted_connections) {
        xous_sid_t priv, group, supp, other;
        xous_cid_t cid;

        if (!can_test())
                return;
        EXPECT_OK(xous_register_name("pol.private", 0, &priv));
        EXPECT_OK(xous_register_name("pol.group", 0, &group));
        EXPECT_OK(xous_register_name("pol.supp", 0, &supp));
        EXPECT_OK(xous_register_name("pol.gid65534", 0, &other));
        /* uid=0 only. */
        EXPECT_ERR(nobody_connect("pol.private"), XOUS_ERR_ACCESS_DENIED);
        EXPECT_OK(xous_request_connection("pol.private", &cid));
        /* gid=100 only: nobody's primary group here, not root's. */
        EXPECT_OK(nobody_connect("pol.group"));
        EXPECT_ERR(xous_request_connection("pol.group", &cid), XOUS_ERR_ACCESS_DENIED);
        /* gid=4242: a supplementary group of nobody's here (SO_PEERGROUPS). */
        EXPECT_OK(nobody_connect("pol.supp"));
        EXPECT_ERR(xous_request_connection("pol.supp", &cid), XOUS_ERR_ACCESS_DENIED);
        /* A group rule is about groups: nobody's uid 65534 is not gid 65534. */
        EXPECT_ERR(nobody_connect("pol.gid65534"), XOUS_ERR_ACCESS_DENIED);
        expect_logged("may not connect to 'pol.private'");
}
END_TEST

/* nobody waits for a name it may not connect to: when the name comes, the
 * wait ends with ACCESS_DENIED, not a connection. Its link is open before
 * it says so (proc_wait_blocked()). */
static void nobody_waits(void *arg) {
        xous_cid_t cid;
        bool done;

        (void)arg;
        become_nobody();
        EXPECT_OK(xous_trusted_init_done(&done));
        parent_send_u32(1);
        parent_send_u32(xous_request_connection_blocking("pol.private", &cid));
}

START_TEST(waiter_refused_when_name_comes) {
        struct proc p;
        xous_sid_t sid;
        uint32_t e;

        if (!can_test())
                return;
        proc_start(&p, "nobody", nobody_waits, NULL);
        EXPECT_EQ(proc_recv_u32(&p), 1);
        proc_wait_blocked(&p);           /* its request parked in xnsd */
        EXPECT_OK(xous_register_name("pol.private", 0, &sid));
        EXPECT_MSG(proc_recv_timeout(&p, &e, sizeof(e), HARNESS_WAIT_MS) == 1, "the waiter was never answered");
        EXPECT_ERR(e, XOUS_ERR_ACCESS_DENIED);
        proc_wait_exit(&p, 0);
}
END_TEST

/* A policy xnsd cannot read or parse stops it at start, naming file and line. */
START_TEST(bad_policy_refused) {
        static const struct {
                const char *text, *why;
        } cases[] = {
                { "own pol.x\n", ":1: a rule is: own NAME WHO..." },
                { "# fine\nallow pol.x uid=0\n", ":2: 'allow' is not 'own' or 'connect'" },
                { "own pol.x uid=root\n", ":1: 'root' is not a number" },
                { "own \"pol.x uid=0\n", ":1: a quoted name is not closed" },
                { "connect pol.x colour=blue\n", ":1: 'colour' is not uid, user, gid, group or host" },
                { "connect pol.x host=a.b\n", ":1: 'a.b' is not a host name" },
        };
        const char *xnsd = getenv("XNSD");

        EXPECT(xnsd);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char path[64], sock[80], err[512] = "";
                int pipefd[2], status;
                ssize_t n;
                FILE *f;
                pid_t pid;

                snprintf(path, sizeof(path), "/tmp/xns-badpolicy-%d", (int)getpid());
                snprintf(sock, sizeof(sock), "/tmp/xns-badpolicy-%d.sock", (int)getpid());
                f = fopen(path, "we");
                EXPECT(f && fputs(cases[i].text, f) >= 0 && fclose(f) == 0);
                EXPECT(pipe2(pipefd, O_CLOEXEC) == 0);
                pid = fork();
                EXPECT(pid >= 0);
                if (pid == 0) {
                        dup2(pipefd[1], STDERR_FILENO);
                        execl(xnsd, "xnsd", "--policy", path, "--socket", sock, (char *)NULL);
                        _exit(127);
                }
                close(pipefd[1]);
                n = read(pipefd[0], err, sizeof(err) - 1);
                close(pipefd[0]);
                err[n > 0 ? n : 0] = '\0';
                EXPECT(waitpid(pid, &status, 0) == pid);
                unlink(path);
                EXPECT_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 1, "case %zu: xnsd status 0x%x", i,
                           (unsigned)status);
                EXPECT_MSG(strstr(err, path) && strstr(err, cases[i].why), "case %zu: xnsd said '%s', want '%s%s'", i,
                           err, path, cases[i].why);
                EXPECT_MSG(access(sock, F_OK) != 0, "case %zu: xnsd left a socket behind", i);
        }
}
END_TEST

int main(void) {
        Suite *s = suite_create("policy");

        harness_add_test(s, reserved_names, setup_policy, teardown_policy);
        harness_add_test(s, restricted_connections, setup_policy, teardown_policy);
        harness_add_test(s, waiter_refused_when_name_comes, setup_policy, teardown_policy);
        harness_add_test(s, bad_policy_refused, setup_policy, teardown_policy);
        return harness_run(s);
}
