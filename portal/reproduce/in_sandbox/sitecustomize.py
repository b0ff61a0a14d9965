"""Installed by the portal in every team process: name the target of a network attempt,
and keep the numerical setting the portal chose.

The sandbox blocks and records every socket through its system-call filter, whatever the
code; this only adds what Python knows and the kernel does not (the host name looked up,
the address connected to). Each attempt is one ``portal-sandbox: network attempt:`` line
on standard error, which the portal reads from its own copy of the output.

Numerics (``portal/reproduce/numerics.py``): the variables the portal pinned are put back if the
team's code changed them before importing a numerical library; PyTorch is configured as
it is imported (threads, and in the portable setting oneDNN and NNPACK off, the CPU
capability fixed); at exit, one ``portal-sandbox: numerics:`` line says what the libraries
actually used and what the team's code overrode.
"""

import _socket
import atexit
import contextlib
import importlib.machinery
import json
import os
import socket
import sys

_MARK = "portal-sandbox: network attempt: "


def _say(what):
    with contextlib.suppress(OSError):
        os.write(2, f"\n{_MARK}{what}\n".encode("utf-8", "replace"))


def _named(kind, original):
    def guarded(*args, **kwargs):
        target = args[0] if args else kwargs.get("host", "")
        if isinstance(target, tuple):
            target = ":".join(str(part) for part in target[:2])
        _say(f"{kind} {target}")
        return original(*args, **kwargs)

    return guarded


_PRIVATE = ("/tmp/", "/var/tmp/", "/dev/shm/", "/run/portal-sandbox/run/")


def _watched(method):
    def guarded(self, address, *args):
        if isinstance(address, (str, bytes)):  # a local socket: only the run's own are fine
            path = address.decode("utf-8", "replace") if isinstance(address, bytes) else address
            if path and not path.startswith("\0") and not path.startswith(_PRIVATE):
                _say(f"unix socket {path}")
        else:
            _say(f"connect {address}")
        return method(self, address, *args)

    return guarded


for _name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr"):
    _original = getattr(_socket, _name)
    _wrapped = _named("dns", _original)
    setattr(_socket, _name, _wrapped)  # socket.getaddrinfo calls this one
    if getattr(socket, _name) is _original:
        setattr(socket, _name, _wrapped)
socket.create_connection = _named("connect", socket.create_connection)


class _GuardedSocket(_socket.socket):
    """What ``_socket.socket`` is for team code: the same, with its connections named."""

    connect = _watched(_socket.socket.connect)
    connect_ex = _watched(_socket.socket.connect_ex)


_socket.socket = _socket.SocketType = _GuardedSocket
socket.socket.connect = _watched(socket.socket.connect)
socket.socket.connect_ex = _watched(socket.socket.connect_ex)


# -- numerics: the setting the portal chose (portal/reproduce/numerics.py), kept and reported --
_SETTING = os.environ.get("PORTAL_NUMERICS", "")
_PINS = {
    name: os.environ[name]
    for name in os.environ.get("PORTAL_NUMERICS_PINNED", "").split(",")
    if name and name in os.environ
}
_NUMERICS_MARK = "portal-sandbox: numerics: "
_restored = []


def _restore_pins():
    """Put back a pinned variable the team's code changed, before a library reads it."""
    for name, value in _PINS.items():
        if os.environ.get(name) != value:
            _restored.append(f"{name}={os.environ.get(name)!r} (restored to {value!r})")
            os.environ[name] = value


def _configure_torch(torch):
    with contextlib.suppress(Exception):
        torch.set_num_threads(1)
    with contextlib.suppress(Exception):
        torch.set_num_interop_threads(1)
    if _SETTING == "portable":
        with contextlib.suppress(Exception):
            torch.backends.mkldnn.enabled = False
        with contextlib.suppress(Exception):
            torch._C._set_nnpack_enabled(False)
    with contextlib.suppress(Exception):  # the level is fixed from here on
        torch.backends.cpu.get_cpu_capability()


class _NumericsFinder:
    """Restores the pins when a numerical library is imported; configures PyTorch."""

    _hooked = False

    def find_spec(self, name, path=None, target=None):
        if name not in ("torch", "numpy", "scipy", "sklearn"):
            return None
        _restore_pins()
        if name != "torch" or _NumericsFinder._hooked:
            return None
        _NumericsFinder._hooked = True
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        original = spec.loader.exec_module

        def exec_module(module):
            original(module)
            _configure_torch(module)

        spec.loader.exec_module = exec_module
        return spec


def _report():
    """What the libraries of this process actually used, one line on standard error."""
    if not _restored and "torch" not in sys.modules and "numpy" not in sys.modules:
        return
    report = {"setting": _SETTING, "pid": os.getpid(), "restored": _restored[:20]}
    overridden = []
    torch = sys.modules.get("torch")
    if torch is not None:
        with contextlib.suppress(Exception):
            used = {
                "torch.cpu_capability": torch.backends.cpu.get_cpu_capability(),
                "torch.mkldnn_enabled": bool(torch.backends.mkldnn.enabled),
                "torch.nnpack_enabled": bool(torch._C._get_nnpack_enabled()),
                "torch.num_threads": torch.get_num_threads(),
            }
            report.update(used)
            expected = {"torch.num_threads": 1}
            if _SETTING == "portable":
                expected = {
                    "torch.cpu_capability": "DEFAULT",
                    "torch.mkldnn_enabled": False,
                    "torch.nnpack_enabled": False,
                    "torch.num_threads": 1,
                }
            overridden += [
                f"{key} is {used[key]!r}, pinned {value!r}"
                for key, value in expected.items()
                if used[key] != value
            ]
    umath = sys.modules.get("numpy._core._multiarray_umath")
    if umath is not None:
        with contextlib.suppress(Exception):
            enabled = [f for f in umath.__cpu_dispatch__ if umath.__cpu_features__.get(f)]
            report["numpy.simd_dispatch_enabled"] = enabled
            disabled = set(_PINS.get("NPY_DISABLE_CPU_FEATURES", "").split())
            overridden += [f"numpy dispatches {f}, pinned off" for f in enabled if f in disabled]
    report["overridden"] = overridden
    with contextlib.suppress(OSError):
        os.write(2, f"\n{_NUMERICS_MARK}{json.dumps(report)}\n".encode("utf-8", "replace"))


if _SETTING:
    _restore_pins()
    _restored.clear()  # what the portal set is the pin; only later changes count
    sys.meta_path.insert(0, _NumericsFinder())
    atexit.register(_report)
