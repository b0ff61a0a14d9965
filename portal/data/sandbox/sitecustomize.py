"""Installed by the portal in every team process: name the target of a network attempt.

The sandbox blocks and records every socket through its system-call filter, whatever the
code; this only adds what Python knows and the kernel does not (the host name looked up,
the address connected to). Each attempt is one ``portal-sandbox: network attempt:`` line
on standard error, which the portal reads from its own copy of the output.
"""

import _socket
import contextlib
import os
import socket

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
