"""The numerical environment of team code, and the machine it ran on.

The same code on the same release must give the same bytes on any x86-64 machine the
portal supports, not only twice on one. What changes the bytes between two machines
is rarely the code: it is which kernels the numerical libraries pick at run time
(AVX-512 or AVX2 or SSE loops sum in different orders), and how many threads split
a reduction. So every team step runs under one of two *settings*:

- ``portable`` (the default): one thread everywhere, and every library held to the
  kernels every supported machine has (x86-64-v2: SSE4.2, no AVX). :data:`PINS` lists
  each variable, its value, the library that reads it and why;
- ``native``: one thread, but each library picks the machine's own best kernels. A team
  opts out of portable numerics in ``algorithm.yaml`` (``numerics: {portable: false,
  reason: ...}``) and runs native; the hardware check re-runs any team under the other
  setting to measure how much its score depends on the machine.

The guard installed in every team process (``portal/reproduce/in_sandbox/sitecustomize.py``)
applies what a variable cannot (PyTorch's oneDNN and NNPACK switches, its thread
pools), restores a pin the team's code changed before a library reads it, and reports
at exit what the libraries actually used, so a pin overridden by the team's code is a
failed step rather than a silent difference. :data:`PROBE` asks the team's environment
which builds and BLAS it holds, and :func:`host` describes the machine.
"""

from __future__ import annotations

import json
import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path

PORTABLE = "portable"
NATIVE = "native"
SETTINGS = (PORTABLE, NATIVE)
#: the line the guard writes on standard error at exit, followed by one JSON object
REPORT_MARK = "portal-sandbox: numerics: "
MAX_REPORTS = 20
MAX_REPORT_CHARS = 20_000


@dataclass(frozen=True)
class Pin:
    """One environment variable the runner sets for team steps."""

    variable: str
    value: str
    library: str
    why: str
    portable_only: bool = True


#: Threads: the order of a parallel reduction depends on how many threads share it, so
#: one thread in both settings (the hardware check then compares kernels, not threads).
#: Kernels: the runtime dispatch of each library in the teams' pinned requirements
#: (PyTorch with MKL, oneDNN and NNPACK; NumPy and SciPy with OpenBLAS; scikit-learn
#: with OpenMP and joblib), held to x86-64-v2 in the portable setting.
PINS: tuple[Pin, ...] = (
    Pin("OMP_NUM_THREADS", "1", "OpenMP (PyTorch, scikit-learn)", "one thread", False),
    Pin("OMP_DYNAMIC", "FALSE", "OpenMP", "no thread count chosen from the load", False),
    Pin("MKL_NUM_THREADS", "1", "MKL (PyTorch's BLAS)", "one thread", False),
    Pin("MKL_DYNAMIC", "FALSE", "MKL", "no thread count chosen from the load", False),
    Pin("OPENBLAS_NUM_THREADS", "1", "OpenBLAS (NumPy, SciPy)", "one thread", False),
    Pin("LOKY_MAX_CPU_COUNT", "1", "joblib (scikit-learn)", "n_jobs=-1 means one worker", False),
    Pin(
        "ATEN_CPU_CAPABILITY",
        "default",
        "PyTorch (ATen)",
        "vectorised loops built for the baseline, not the AVX2 or AVX-512 copies: "
        "those reduce in other orders and give other bits",
    ),
    Pin(
        "ONEDNN_MAX_CPU_ISA",
        "SSE41",
        "PyTorch (oneDNN)",
        "oneDNN's JIT kernels capped at SSE4.1, should any op still reach oneDNN "
        "(the guard switches oneDNN off for PyTorch)",
    ),
    Pin("DNNL_MAX_CPU_ISA", "SSE41", "PyTorch (oneDNN, older name)", "as ONEDNN_MAX_CPU_ISA"),
    Pin(
        "MKL_CBWR",
        "COMPATIBLE",
        "MKL",
        "conditional numerical reproducibility on the SSE2 code path, the same on "
        "Intel and AMD processors",
    ),
    Pin(
        "MKL_ENABLE_INSTRUCTIONS",
        "SSE4_2",
        "MKL",
        "no AVX code path even where MKL_CBWR does not apply",
    ),
    Pin(
        "OPENBLAS_CORETYPE",
        "Nehalem",
        "OpenBLAS (NumPy, SciPy wheels)",
        "the x86-64-v2 kernels, not the ones OpenBLAS would pick for this CPU "
        "(Haswell, SkylakeX, Zen…)",
    ),
    Pin(
        "NPY_DISABLE_CPU_FEATURES",
        "X86_V3 X86_V4 AVX512_ICL AVX512_SPR AVX AVX2 FMA3 F16C AVX512F AVX512CD "
        "AVX512_SKX AVX512_CLX AVX512_CNL",
        "NumPy 2",
        "NumPy's universal functions on their x86-64-v2 baseline loops, not the AVX2 or "
        "AVX-512 copies dispatched at run time (names a NumPy version does not know are "
        "ignored by it)",
    ),
)

#: What the guard sets inside each process, in the portable setting, once PyTorch is
#: imported (no variable reaches these switches).
IN_PROCESS: dict[str, str] = {
    "torch.backends.mkldnn.enabled": "False: oneDNN picks its blocking from the cache "
    "sizes of the CPU, so its convolutions differ between machines even at one ISA; "
    "PyTorch's own convolution (im2col + MKL under MKL_CBWR) is used instead",
    "torch.backends.nnpack": "off: NNPACK chooses its kernels from the CPU",
    "torch.set_num_threads": "1 (both settings)",
    "torch.set_num_interop_threads": "1 (both settings)",
    "torch.backends.cpu.get_cpu_capability()": "read once at import, so the level is "
    "fixed before the team's code can change ATEN_CPU_CAPABILITY",
}


def pins(setting: str) -> dict[str, str]:
    """The variables set for a step under ``setting``."""
    if setting not in SETTINGS:
        raise ValueError(f"numerical setting {setting!r} is not one of {SETTINGS}")
    return {p.variable: p.value for p in PINS if setting == PORTABLE or not p.portable_only}


def environment(setting: str) -> dict[str, str]:
    """What the sandbox adds to a step's scrubbed environment: the pins, and what the
    guard needs to re-apply them (the setting, the names pinned)."""
    pinned = pins(setting)
    return {
        **pinned,
        "PORTAL_NUMERICS": setting,
        "PORTAL_NUMERICS_PINNED": ",".join(sorted(pinned)),
    }


def other(setting: str) -> str:
    """The setting the hardware check compares with."""
    return NATIVE if setting == PORTABLE else PORTABLE


def describe() -> list[dict[str, str]]:
    """The pins as rows (variable, value, library, why, settings), for the record and docs."""
    return [
        {
            "variable": p.variable,
            "value": p.value,
            "library": p.library,
            "why": p.why,
            "settings": PORTABLE if p.portable_only else f"{PORTABLE}, {NATIVE}",
        }
        for p in PINS
    ]


# -- the machine ----------------------------------------------------------------------------
#: cpuinfo flags that decide which kernels a library picks at run time
KERNEL_FLAGS = re.compile(
    r"^(sse4_1|sse4_2|popcnt|avx|avx2|fma|f16c|bmi1|bmi2|avx512\w*|avx_vnni\w*|"
    r"avx_ifma|avx_ne_convert|amx\w*|hypervisor)$"
)
_LEVELS = (
    ("x86-64-v4", {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}),
    ("x86-64-v3", {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "movbe", "xsave"}),
    ("x86-64-v2", {"cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3"}),
)


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def isa_level(flags: set[str]) -> str:
    """The x86-64 micro-architecture level the flags reach (v2 needs v1, and so on)."""
    reached = "x86-64"
    for name, needed in reversed(_LEVELS):
        if not needed <= flags:
            break
        reached = name
    return reached


def host() -> dict:
    """The machine the portal runs on: what decides which kernels run, and how fast.

    Read from ``/proc`` and ``/etc/os-release`` by the portal itself (the team's code
    sees the same CPU); every value is a plain string or number, for the run record,
    MLflow and the site."""
    cpuinfo = _read("/proc/cpuinfo").split("\n\n", 1)[0]
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    memory = re.search(r"^MemTotal:\s+(\d+) kB", _read("/proc/meminfo"), re.M)
    release = dict(
        (key, value.strip('"'))
        for key, _, value in (line.partition("=") for line in _read("/etc/os-release").splitlines())
        if key
    )
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 0
    libc, libc_version = platform.libc_ver()
    return {
        "cpu_model": fields.get("model name", platform.processor() or "unknown"),
        "cpu_vendor": fields.get("vendor_id", "unknown"),
        "cpu_family_model": f"{fields.get('cpu family', '?')}/{fields.get('model', '?')}",
        "isa_level": isa_level(flags),
        "kernel_flags": sorted(f for f in flags if KERNEL_FLAGS.match(f)),
        "logical_cpus": os.cpu_count() or 0,
        "usable_cpus": usable,
        "memory_gib": round(int(memory.group(1)) / 1024**2, 1) if memory else None,
        "os": release.get("PRETTY_NAME", platform.system()),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "libc": f"{libc} {libc_version}".strip() or "unknown",
    }


# -- the team's environment -----------------------------------------------------------------
#: Run with the team's Python inside the sandbox, under the step's setting (so the guard
#: configures PyTorch as it would for the team): prints one JSON object with the builds,
#: the BLAS and the kernel levels in effect. Standard library only, no team code.
PROBE = r"""
import ctypes, glob, importlib, json, os, platform, sys
out = {"python": platform.python_version(), "libc": " ".join(platform.libc_ver())}
def corename(folder):
    names = []
    for lib in sorted(glob.glob(os.path.join(folder, "*openblas*.so*"))):
        try:
            handle = ctypes.CDLL(lib)
        except OSError:
            continue
        for symbol in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename",
                       "openblas_get_corename64_", "openblas_get_corename"):
            function = getattr(handle, symbol, None)
            if function is not None:
                function.restype = ctypes.c_char_p
                names.append(function().decode())
                break
    return names
try:
    import numpy
    info = {"version": numpy.__version__}
    try:
        deps = numpy.show_config(mode="dicts").get("Build Dependencies", {})
        blas = deps.get("blas", {})
        info["blas"] = " ".join(str(blas.get(k, "")) for k in ("name", "version")).strip()
        info["blas_configuration"] = str(blas.get("openblas configuration", ""))
    except Exception as error:
        info["blas"] = f"unknown ({type(error).__name__})"
    from numpy._core import _multiarray_umath as umath
    info["simd_baseline"] = list(umath.__cpu_baseline__)
    info["simd_dispatch_enabled"] = [
        f for f in umath.__cpu_dispatch__ if umath.__cpu_features__.get(f)
    ]
    info["openblas_core"] = corename(numpy.__path__[0] + ".libs")
    out["numpy"] = info
except ImportError:
    out["numpy"] = None
try:
    import scipy
    out["scipy"] = {"version": scipy.__version__,
                    "openblas_core": corename(scipy.__path__[0] + ".libs")}
except ImportError:
    out["scipy"] = None
try:
    import torch
    shown = torch.__config__.show()
    def line(word):
        return next((x.strip(" -") for x in shown.splitlines() if word in x), "")
    out["torch"] = {
        "version": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkldnn_enabled": bool(torch.backends.mkldnn.enabled),
        "nnpack_enabled": bool(torch._C._get_nnpack_enabled()),
        "num_threads": torch.get_num_threads(),
        "num_interop_threads": torch.get_num_interop_threads(),
        "blas": line("BLAS_INFO=").split("BLAS_INFO=")[-1].split(",")[0],
        "mkl": line("Math Kernel Library"),
        "onednn": line("MKL-DNN"),
    }
except ImportError:
    out["torch"] = None
try:
    import threadpoolctl
    out["threadpools"] = [
        {k: p.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
        for p in threadpoolctl.threadpool_info()
    ]
except ImportError:
    out["threadpools"] = None
print(json.dumps(out))
"""


def _plain(value, depth: int = 0):
    """A JSON value from team-controlled output, kept only if it is small and plain."""
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, str):
        return value[:300]
    if depth > 3:
        return None
    if isinstance(value, list):
        return [_plain(v, depth + 1) for v in value[:40]]
    if isinstance(value, dict):
        return {str(k)[:80]: _plain(v, depth + 1) for k, v in list(value.items())[:40]}
    return None


def read_probe(stdout: str) -> dict | None:
    """The probe's answer (the last JSON line it printed), or None. Untrusted: the
    team's environment ran it; only small plain values are kept."""
    for line in reversed(stdout.strip().splitlines()[-5:]):
        try:
            value = json.loads(line[:MAX_REPORT_CHARS])
        except ValueError:
            continue
        if isinstance(value, dict):
            return _plain(value)
    return None


def read_reports(log: Path) -> list[dict]:
    """The guard's reports in a step's log (the portal's own copy of its standard error)."""
    found: list[dict] = []
    if not Path(log).is_file():
        return found
    with Path(log).open("rb") as handle:
        while raw := handle.readline(MAX_REPORT_CHARS + 100):  # a long line is cut, not read
            text = raw.decode(errors="replace").strip()
            if not text.startswith(REPORT_MARK):
                continue
            try:
                value = json.loads(text.removeprefix(REPORT_MARK))
            except ValueError:
                continue
            if isinstance(value, dict):
                found.append(_plain(value))
            if len(found) >= MAX_REPORTS:
                break
    return found


def overrides(reports: list[dict], setting: str) -> list[str]:
    """What the team's processes changed of the portable setting, from their reports."""
    if setting != PORTABLE:
        return []
    found: list[str] = []
    for report in reports:
        for item in report.get("overridden") or []:
            if isinstance(item, str) and item not in found:
                found.append(item)
    return found


def summary(host_facts: dict, configuration: dict) -> str:
    """One line a person reads: the machine and the setting."""
    return (
        f"{host_facts.get('cpu_model', '?')} ({host_facts.get('isa_level', '?')}, "
        f"{host_facts.get('usable_cpus', '?')} CPUs, {host_facts.get('memory_gib', '?')} GiB), "
        f"{host_facts.get('os', '?')}, kernel {host_facts.get('kernel', '?')}; "
        f"numerics {configuration.get('setting', '?')}"
    )
