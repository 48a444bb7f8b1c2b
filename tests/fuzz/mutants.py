#!/usr/bin/env python3
"""Check the harness itself: plant known bugs in a copy of the core and see
each one caught by the sanitizer replay of the corpus.

    mutants.py [NAME...]     (make -f tests/fuzz/fuzz.mk fuzz-mutants)

Not part of the test suite (a build per mutant): run it after changing the
harness or the corpus.  A mutant whose anchor text is no longer in the core
is reported "stale" and skipped; update its anchor.  "equivalent" mutants
drop the same frames under another valid reason: nothing without an oracle
of drop reasons can tell them apart, so they are expected to survive.
"""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PIPELINE = "pipeline/pipeline.c"
CAPTURE = "pipeline/capture.c"

# name: (file, anchor, replacement, equivalent?)
MUTANTS = {
    "use-after-free": (PIPELINE, "    vs_pool_free(&w->dp->pool, p);\n}",
                       "    vs_pool_free(&w->dp->pool, p);\n    (void)*(volatile uint8_t *)vs_pkt_bytes(p);\n}", False),
    "double-free": (PIPELINE, "return drop(w, p, VS_DROP_RUNT, tr);",
                    "{ vs_pool_free(&dp->pool, p); return drop(w, p, VS_DROP_RUNT, tr); }", False),
    "leak": (PIPELINE, "if ((dst >> 28) == 0xe) return drop(w, p, VS_DROP_L3_MULTICAST, tr);",
             "if ((dst >> 28) == 0xe) { in_stats(w, p)->drops[VS_DROP_L3_MULTICAST]++; return; }", False),
    "flood-not-counted": (PIPELINE, "    in_stats(w, p)->flooded++;\n", "", False),
    "punt-counted-twice": (PIPELINE, "    in_stats(w, p)->punted++;\n", "    in_stats(w, p)->punted += 2;\n", False),
    "flood-back-out": (PIPELINE, "        if (br->members[i] == from_iface) continue;\n", "", False),
    "routed-not-for-us": (PIPELINE, "if (!(eth[0] & 1)) return drop(w, p, VS_DROP_L3_NOT_FOR_US, tr);",
                          "if (!(eth[0] & 1)) return l3_input(w, p, tr);", False),
    "no-runt-check": (PIPELINE, "if (VS_UNLIKELY(p->len < VS_ETH_HLEN)) return drop(w, p, VS_DROP_RUNT, tr);", "", False),
    "no-tag-length-check": (PIPELINE, "if (p->len < VS_ETH_HLEN + 4) return drop(w, p, VS_DROP_VLAN_TRUNCATED, tr);", "",
                            False),
    "total-length-past-frame": (PIPELINE, "total > room", "total > room + 64", False),
    "glean-reads-past-frame": (PIPELINE, "adj->type == VS_ADJ_GLEAN ? rd32(eth + VS_ETH_HLEN + 16)",
                               "adj->type == VS_ADJ_GLEAN ? rd32(eth + p->len)", False),
    "no-padding-trim": (PIPELINE, "    p->len = (uint16_t)(VS_ETH_HLEN + total);", "", False),
    "no-ttl-decrement": (PIPELINE, "    ttl_decrement(ip);\n", "", False),
    "bad-incremental-checksum": (PIPELINE, "    sum += new_word;\n", "    sum += new_word + 1;\n", False),
    "mtu-off-by-one": (PIPELINE, "if (VS_UNLIKELY(total > mtu)) {", "if (VS_UNLIKELY(total > mtu + 1u)) {", False),
    "no-ihl-vs-room-check": (PIPELINE, "if (hlen > room) return drop(w, p, VS_DROP_IP_TRUNCATED, tr);", "", True),
    "room-20-to-19": (PIPELINE, "if (room < 20)", "if (room < 19)", True),
    "drop-not-traced": (PIPELINE, "    TRACE(tr, VS_TR_DROP, reason, VS_TR_NONE, 0, 0, NULL);\n    struct vs_port_stats *s = in_stats(w, p);\n"
                                  "    s->drops[reason]++;\n    s->rx_dropped++;\n    int refused",
                        "    struct vs_port_stats *s = in_stats(w, p);\n    s->drops[reason]++;\n    s->rx_dropped++;\n"
                        "    int refused", False),
    "capture-reads-past-frame": (CAPTURE, "slot->cap_len = p->len < VS_CAPTURE_SNAP ? p->len : VS_CAPTURE_SNAP;",
                                 "slot->cap_len = p->len + 1 < VS_CAPTURE_SNAP ? p->len + 1 : VS_CAPTURE_SNAP;", False),
}


def run(name, work):
    path, anchor, repl, equivalent = MUTANTS[name]
    tree = os.path.join(work, name)
    for sub in ("pipeline", "drivers"):
        shutil.copytree(os.path.join(ROOT, sub), os.path.join(tree, sub))
    src = os.path.join(tree, path)
    text = open(src).read()
    if text.count(anchor) != 1:
        return "stale", f"anchor found {text.count(anchor)} times in {path}"
    open(src, "w").write(text.replace(anchor, repl))
    r = subprocess.run(["make", "-s", "--no-print-directory", "-f", os.path.join(HERE, "fuzz.mk"), "fuzz-sanitize",
                        f"FUZZ_CORE={tree}", f"FUZZ_BUILD={tree}/build"], capture_output=True, text=True)
    lines = (r.stdout + r.stderr).splitlines()
    why = next((l for l in lines if "FINDING" in l or "Sanitizer" in l or "runtime error" in l or "error:" in l),
               lines[-1] if lines else "")
    if any("error:" in l and "Sanitizer" not in l for l in lines):
        return "stale", "does not compile: " + why
    if r.returncode:
        return "caught", why
    return ("survived (equivalent)" if equivalent else "SURVIVED"), why


def main():
    names = sys.argv[1:] or list(MUTANTS)
    bad = 0
    with tempfile.TemporaryDirectory(prefix="vs-mutants-") as work:
        for name in names:
            verdict, why = run(name, work)
            bad += verdict in ("SURVIVED", "stale")
            print(f"{name:26s} {verdict:22s} {why[:110]}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
