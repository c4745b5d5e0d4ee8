"""test_event_loops: Server.fileno() and pending(): servers in selectors and
asyncio loops, messages from other processes."""
import asyncio
import selectors

import xous
from test_envelopes import xnsctl_call


def test_selector_wakes_for_each_of_two_servers(procs, name):
    with xous.register_name(name + " a") as a, xous.register_name(name + " b") as b, \
            selectors.DefaultSelector() as selector:
        selector.register(a, selectors.EVENT_READ)
        selector.register(b, selectors.EVENT_READ)
        assert a.fileno() == a.fileno() and a.fileno() != b.fileno()
        assert selector.select(timeout=0) == []             # idle: not readable
        assert xnsctl_call(procs, name + " b", 7, 1, scalar=True).wait() == 0
        ready = [key.fileobj for key, _ in selector.select(timeout=10)]
        assert ready == [b]
        seen = []
        for env in b.pending():
            with env:
                seen.append((env.kind, env.id, env.args[0]))
        assert seen == [(xous.Kind.SCALAR, 7, 1)]
        assert selector.select(timeout=0) == []             # taken: quiet again
        caller = xnsctl_call(procs, name + " a", 8, 20, 22)
        assert [key.fileobj for key, _ in selector.select(timeout=10)] == [a]
        for env in a.pending():
            with env:
                env.return_scalar(env.args[0] + env.args[1])
        assert caller.wait() == 0 and caller.lines == ["42"]
        selector.unregister(a)                              # out of the loop before the destroy closes it
        selector.unregister(b)


def test_asyncio_reader_answers_callers(procs, name):
    async def serve(server, answers):
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def on_readable():
            for env in server.pending():
                with env:
                    env.return_scalar(env.args[0] * 2)
                    answers.append(env.sender_pid)
            if len(answers) == 3 and not done.done():
                done.set_result(None)

        loop.add_reader(server, on_readable)
        try:
            callers = [xnsctl_call(procs, name, 1, n) for n in (1, 2, 3)]
            await asyncio.wait_for(done, timeout=10)
        finally:
            loop.remove_reader(server)
        return callers

    answers = []
    with xous.register_name(name) as server:
        callers = asyncio.run(serve(server, answers))
    assert sorted(answers) == sorted(c.pid for c in callers)
    for n, caller in zip((1, 2, 3), callers):
        assert caller.wait() == 0 and caller.lines == [str(2 * n)]
