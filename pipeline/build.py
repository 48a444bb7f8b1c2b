"""cffi build of vswitch._core: the C forwarding core and the drivers' ring code.

vs_api.h is the whole Python-visible interface; it is fed to cdef with its
preprocessor guards removed and the core-only packet fields hidden.
"""
import glob
import os
import platform

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Portable baseline (QEMU guests emulate older CPUs than the host); never -march=native.
BASELINE = ["-march=x86-64-v2"] if platform.machine() == "x86_64" else []
# -flto: the worker loop inlines driver bursts and pool calls across files;
# hidden visibility: no PLT hop between the core's own files.
CFLAGS = ["-std=gnu11", "-O2", "-g", "-flto", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter",
          *BASELINE]
LDFLAGS = ["-flto", "-O2"]


def api_cdef():
    lines = []
    with open(os.path.join(HERE, "vs_api.h")) as f:
        for line in f:
            stripped = line.strip()
            if stripped.startswith(("#ifndef", "#endif", "#include")):
                continue
            if stripped.startswith("#define") and len(stripped.split()) < 3:
                continue  # include guard
            if stripped.startswith("#define VS_PKT_PRIVATE"):
                continue
            lines.append(line.replace("VS_PKT_PRIVATE", "...;"))
    return "".join(lines)


def sources():
    return sorted(glob.glob(os.path.join(HERE, "*.c"))) + sorted(glob.glob(os.path.join(ROOT, "drivers", "*.c")))


ffibuilder = FFI()
ffibuilder.cdef(api_cdef())
ffibuilder.set_source(
    "vswitch._core",
    '#include "vs.h"',
    sources=[os.path.relpath(s, ROOT) for s in sources()],
    include_dirs=[os.path.relpath(HERE, ROOT)],
    extra_compile_args=CFLAGS,
    extra_link_args=LDFLAGS,
    libraries=["pthread"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
