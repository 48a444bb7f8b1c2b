"""Property tests: the C DIR-24-8 FIB against a brute-force longest-prefix match.

A hypothesis state machine adds, replaces and deletes routes drawn around a few
base addresses (so they overlap, nest and share /24s; /0 and /32 included) and
after every step compares vs_fib_lookup with the reference for the addresses
that matter: every prefix's first and last address, one either side, and a few
random ones.  Deletes name the covering route exactly as the control plane
will (the longest remaining route strictly shorter that contains the prefix).
The number of tbl8 groups in use must always equal the number of /24s holding
a route longer than /24, and drop to 0 once every route is gone.
"""

import functools
import random

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from vswitch._core import lib

M32 = 0xFFFFFFFF
MAX_ADJ = 4096


def mask(length):
    return (M32 << (32 - length)) & M32 if length else 0


def fmt(net, length):
    return "%d.%d.%d.%d/%d" % (net >> 24, (net >> 16) & 255, (net >> 8) & 255, net & 255, length)


class RefFib:
    """dict of (net, len) -> adj; lookups try every length in use, longest first."""

    def __init__(self):
        self.routes = {}
        self.len_count = {}

    def add(self, net, length, adj):
        if (net, length) not in self.routes:
            self.len_count[length] = self.len_count.get(length, 0) + 1
        self.routes[(net, length)] = adj

    def delete(self, net, length):
        del self.routes[(net, length)]
        self.len_count[length] -= 1
        if not self.len_count[length]:
            del self.len_count[length]

    def lookup(self, ip):
        for length in sorted(self.len_count, reverse=True):
            adj = self.routes.get((ip & mask(length), length))
            if adj is not None:
                return adj
        return 0

    def parent(self, net, length):
        """The covering route that takes over when (net, length) goes: (adj, len) or (0, 0)."""
        for plen in sorted((l for l in self.len_count if l < length), reverse=True):
            adj = self.routes.get((net & mask(plen), plen))
            if adj is not None:
                return adj, plen
        return 0, 0

    def group_24s(self):
        return {net >> 8 for (net, length) in self.routes if length > 24}


# One dp per group size, reused across examples (its 80 MB of tables are touched
# lazily; touching them again for every example would dominate the runtime).
# A run that did not end with an empty FIB marks it dirty: the next run gets a new one.
_DPS = {}


def _get_dp(max_groups):
    slot = _DPS.get(max_groups)
    if slot and slot["dirty"]:
        lib.vs_dp_destroy(slot["dp"])
        slot = None
    if not slot:
        dp = lib.vs_dp_create(64, 1, MAX_ADJ, max_groups)
        assert dp, "vs_dp_create failed"
        slot = _DPS[max_groups] = {"dp": dp, "dirty": False}
    assert lib.vs_fib_groups_used(slot["dp"]) == 0
    slot["dirty"] = True
    return slot


@pytest.fixture(scope="module", autouse=True)
def _destroy_dps():
    yield
    for slot in _DPS.values():
        lib.vs_dp_destroy(slot["dp"])
    _DPS.clear()


def tracked(step):
    """Mark the machine broken while a step runs: if the step fails, teardown
    skips its own checks (one failure, not two) and the dp is replaced."""

    @functools.wraps(step)
    def run(self, *args, **kwargs):
        self.broken = True
        step(self, *args, **kwargs)
        self.broken = False

    return run


ADDR = st.one_of(
    st.integers(0, M32),
    st.sampled_from([0x00000000, 0xFFFFFFFF, 0x0A000000, 0xC0A801FF, 0x7FFFFFFF, 0x80000000]),
)
# Short prefixes rewrite up to 2^24 tbl24 entries (tens of ms): keep them rare.
LENGTHS = st.sampled_from([32, 0, 1, 5] + list(range(8, 33)) * 2)
LONG_LENGTHS = st.sampled_from([24, 25, 26, 28, 30, 31, 32, 16])
FLIP = st.one_of(
    st.just(0),
    st.integers(0, 0xFF),
    st.integers(0, 0xFFFF),
    st.integers(0, 31).map(lambda b: 1 << b),
)
ADJ = st.one_of(st.integers(1, 8), st.integers(1, MAX_ADJ - 1))


class FibMachine(RuleBasedStateMachine):
    MAX_GROUPS = 512

    def __init__(self):
        super().__init__()
        self.slot = _get_dp(self.MAX_GROUPS)
        self.dp = self.slot["dp"]
        self.ref = RefFib()
        self.probes = set()
        self.bases = [0]
        self.broken = False

    # ---- helpers ---------------------------------------------------------

    def prefix(self, base_i, flip, length):
        net = (self.bases[base_i % len(self.bases)] ^ flip) & mask(length)
        first, last = net, net | (~mask(length) & M32)
        self.probes.update({first, last, (first - 1) & M32, (last + 1) & M32, (first + last) // 2})
        return net

    def check(self, addrs):
        for ip in addrs:
            want = self.ref.lookup(ip)
            got = lib.vs_fib_lookup(self.dp, ip)
            assert got == want, "lookup %s: core %d, reference %d; routes %s" % (
                fmt(ip, 32), got, want, self.routes_str())
        assert lib.vs_fib_groups_used(self.dp) == len(self.ref.group_24s())

    def routes_str(self):
        return ", ".join("%s->%d" % (fmt(n, l), a) for (n, l), a in sorted(self.ref.routes.items()))

    def do_delete(self, net, length):
        padj, plen = self.ref.parent(net, length)
        assert lib.vs_fib_delete(self.dp, net, length, padj, plen) == 0
        if (net, length) in self.ref.routes:
            self.ref.delete(net, length)

    # ---- rules -----------------------------------------------------------

    @initialize(bases=st.lists(ADDR, min_size=1, max_size=3))
    @tracked
    def init_bases(self, bases):
        self.bases = bases
        self.probes.update(bases)

    @rule(base_i=st.integers(0, 2), flip=FLIP, length=LENGTHS, adj=ADJ)
    @tracked
    def add(self, base_i, flip, length, adj):
        self._add(base_i, flip, length, adj)

    def _add(self, base_i, flip, length, adj):
        net = self.prefix(base_i, flip, length)
        groups = self.ref.group_24s()
        full = length > 24 and (net >> 8) not in groups and len(groups) >= self.MAX_GROUPS
        rc = lib.vs_fib_add(self.dp, net, length, adj)
        if full:
            assert rc == -1, "add %s with every group in use" % fmt(net, length)
        else:
            assert rc == 0, "add %s -> %d failed" % (fmt(net, length), adj)
            self.ref.add(net, length, adj)

    @precondition(lambda self: self.ref.routes)
    @rule(data=st.data(), adj=ADJ)
    @tracked
    def replace(self, data, adj):
        net, length = data.draw(st.sampled_from(sorted(self.ref.routes)), label="route")
        assert lib.vs_fib_add(self.dp, net, length, adj) == 0
        self.ref.add(net, length, adj)

    @precondition(lambda self: self.ref.routes)
    @rule(data=st.data())
    @tracked
    def delete(self, data):
        net, length = data.draw(st.sampled_from(sorted(self.ref.routes)), label="route")
        self.do_delete(net, length)

    @rule(base_i=st.integers(0, 2), flip=FLIP, length=st.integers(8, 32))
    @tracked
    def delete_absent(self, base_i, flip, length):
        """Deleting a route that is not there changes nothing."""
        net = self.prefix(base_i, flip, length)
        if (net, length) not in self.ref.routes:
            self.do_delete(net, length)

    @rule(ip=st.integers(0, M32))
    @tracked
    def probe(self, ip):
        self.probes.add(ip)

    @precondition(lambda self: self.ref.group_24s())
    @rule()
    @tracked
    def check_whole_groups(self):
        for i in self.ref.group_24s():
            self.check(range(i << 8, (i + 1) << 8))

    @invariant()
    @tracked
    def lookups_match(self):
        self.check(self.probes)

    def teardown(self):
        if self.broken:
            return
        # Every /24 with detail, entry by entry, then everything deleted in a
            # (reproducible) shuffled order, checking after each delete.
        # (If anything fails the dp stays marked dirty and is replaced.)
        for i in self.ref.group_24s():
            self.check(range(i << 8, (i + 1) << 8))
        order = sorted(self.ref.routes)
        random.Random(len(order)).shuffle(order)
        for net, length in order:
            self.do_delete(net, length)
            self.check(self.probes)
        assert lib.vs_fib_groups_used(self.dp) == 0, "groups leaked"
        for ip in self.probes:
            assert lib.vs_fib_lookup(self.dp, ip) == 0
        self.slot["dirty"] = False


class SmallGroupsMachine(FibMachine):
    """Only 3 tbl8 groups and mostly long prefixes: an add that needs a 4th
    group fails cleanly (-1, nothing changed); freed groups are reusable."""

    MAX_GROUPS = 3

    @rule(base_i=st.integers(0, 2), flip=st.integers(0, 0x3FF), length=LONG_LENGTHS, adj=ADJ)
    @tracked
    def add_long(self, base_i, flip, length, adj):
        self._add(base_i, flip, length, adj)


def test_fib_matches_reference():
    run_state_machine_as_test(
        FibMachine,
        settings=settings(
            max_examples=100,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def test_fib_group_exhaustion():
    run_state_machine_as_test(
        SmallGroupsMachine,
        settings=settings(
            max_examples=50,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def test_fib_default_and_host_routes():
    """A fixed walk through the corner cases, so they are always covered."""
    slot = _get_dp(FibMachine.MAX_GROUPS)
    dp, ref = slot["dp"], RefFib()
    probes = [0, 1, 0x0A000000, 0x0A0000FF, 0x0A000100, 0x0AFFFFFF, 0xFFFFFFFE, 0xFFFFFFFF]

    def check():
        for ip in probes:
            assert lib.vs_fib_lookup(dp, ip) == ref.lookup(ip), fmt(ip, 32)
        assert lib.vs_fib_groups_used(dp) == len(ref.group_24s())

    def add(net, length, adj):
        assert lib.vs_fib_add(dp, net, length, adj) == 0
        ref.add(net, length, adj)
        check()

    def delete(net, length):
        padj, plen = ref.parent(net, length)
        assert lib.vs_fib_delete(dp, net, length, padj, plen) == 0
        ref.delete(net, length)
        check()

    add(0, 0, 1)                    # default route
    add(0x0A000000, 32, 2)          # /32 under it
    add(0x0A000000, 8, 3)           # /8 between them
    add(0xFFFFFFFF, 32, 4)          # the very last address
    add(0, 32, 5)                   # the very first address
    add(0x0A000000, 25, 6)          # shares the /24 group with the /32
    add(0x0A000000, 24, 7)          # /24 over a split /24
    add(0x0A000000, 32, 8)          # replace
    delete(0x0A000000, 8)           # /8 goes: /0 takes over outside the /24
    delete(0, 0)                    # default goes: nothing left outside
    delete(0x0A000000, 25)
    delete(0x0A000000, 32)          # group folds back into the /24
    delete(0x0A000000, 24)
    delete(0xFFFFFFFF, 32)
    delete(0, 32)
    assert lib.vs_fib_groups_used(dp) == 0
    slot["dirty"] = False
