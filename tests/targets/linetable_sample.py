# Line-table test subject: compiled (not imported) by linetable_truth.py.
# Valid on 3.8+; a variety of statements whose line tables exercise forward
# and backward line deltas, artificial instructions and jumps.
import functools
import contextlib


def decorator(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)
    return wrapper


@decorator
@functools.lru_cache(
    maxsize=None,
)
def decorated(
    a,
    b=(
        1,
        2,
    ),
):
    return (a
            +
            b[0]
            *
            b[1])


def loops(n):
    total = 0
    for i in range(n):
        if i % 3 == 0:
            continue
        elif i % 5 == 0:
            total -= i
        else:
            total += i
        while total > 100:
            total //= 2
            if total == 7:
                break
        else:
            total += 1
    return total


def comprehensions(xs):
    a = [x * 2 for x in xs if x]
    b = {x: y
         for x, y in zip(xs,
                         xs[1:])}
    c = {x for x in xs}
    d = (x
         for x
         in xs)
    e = [[y for y in range(x)] for x in xs]
    return a, b, c, list(d), e


def exceptions(x):
    try:
        y = 1 / x
    except ZeroDivisionError as e:
        y = str(e)
    except (TypeError,
            ValueError):
        y = None
    else:
        y = y + 1
    finally:
        x = 0
    try:
        try:
            raise KeyError(x)
        finally:
            x += 1
    except KeyError:
        pass
    return y


def withs(path):
    with contextlib.suppress(Exception):
        pass
    with contextlib.ExitStack() as a, \
            contextlib.ExitStack() as b:
        a.enter_context(
            contextlib.suppress(ValueError))
        b.callback(print,
                   path)
    return 1


lam = lambda x, y=(
    3): (x
         + y)


async def coroutine(it):
    async with it as v:
        async for x in v:
            await x
    return [y async for y in it]


def generator(n):
    yield 1
    x = yield from range(
        n)
    while True:
        got = (yield x)
        if got is None:
            return
        x = got


class Klass(
    object,
):
    attr = [
        1,
        2,
    ]

    def method(self, *, key=None):
        return (
            self
            .attr[
                0
            ]
        )

    @property
    def prop(self):
        return self.attr

    @staticmethod
    def static():
        class Inner:
            def deep(self):
                def deeper():
                    return lambda: (
                        1)
                return deeper
        return Inner


def backwards():
    x = (
        1,
        2,
    )[
        0
    ]
    call(
        arg1,
        arg2,
    )(
        more,
    )
    return {
        'k':
            x,
    }


def conditional(a, b, c):
    return (a if b
            else c if a
            else b)


def boolops(a, b, c):
    if (a and
            b or
            not c):
        return 1
    assert a, (
        "message")
    del a
    global glob
    glob = b
    return 2


def fstrings(x):
    return f"""{x
    }-{x!r:>{
        10}}"""


def stars(*a, **k):
    first, *rest = a
    return [*a, *rest], {**k}


def nested_functions():
    def inner1():
        def inner2():
            nonlocal_var = 1

            def inner3():
                nonlocal nonlocal_var
                nonlocal_var += 1
                return nonlocal_var
            return inner3
        return inner2
    return inner1


def chained_compare(a, b, c):
    return a < b <= c != a is not None


def slicing(x):
    return x[1:2], x[::3], x[
        1:
        -1
    ]


def empty():
    pass


def docstring_only():
    """Only a docstring."""


def unreachable_tail(x):
    return x
    print("never")
    x += 1


def many_returns(x):
    if x == 1:
        return 1
    if x == 2:
        return 2
    for i in x:
        try:
            return i
        finally:
            print(i)
    return None
