/* main.c: myservice-server, the service's loop: one thread, blocked in xous_receive_message(). */
#include <stdio.h>
#include <unistd.h>
#include <xous/xous.h>

#include "api.h"
#include "serve.h"

/* The event loop: xous_receive_message() sleeps, using no CPU, until a message comes. */
static int service_run(struct service *svc) {
        for (;;) {
                /* Dropped at the end of each pass: a synchronous message returns here. */
                XOUS_ENVELOPE_AUTO xous_envelope_t *env = NULL;
                xous_error_t e = xous_receive_message(svc->sid, &env);

                if (e != XOUS_OK) {
                        fprintf(stderr, "myservice-server: receive: %s\n", xous_strerror(e));
                        return 1;
                }
                if (!service_handle(svc, &env))
                        return 0;
        }
}

int main(void) {
        static struct service svc;
        int r;

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (service_init(&svc) < 0)
                return 1;
        say("registered \"%s\" (pid %d), waiting for messages", SERVER_NAME_MYSERVICE, (int)getpid());
        r = service_run(&svc);
        service_deinit(&svc);
        say("unregistered, exiting");
        return r;
}
