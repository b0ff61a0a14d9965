"""Started by the portal as the first process inside the sandbox (system Python, no imports
from the portal): install the system-call filter, hand its listener to the portal's
supervisor, then become the team's command.

    launcher.py NOTIFY_FD FILTER_NOTIFY FILTER_KILL -- COMMAND...

If the kernel cannot hand out a listener, the filter is installed in its killing form
(forbidden calls end the process with SIGSYS) and the supervisor is told so.
"""

import ctypes
import os
import socket
import sys

PR_SET_NO_NEW_PRIVS = 38
SYS_SECCOMP = 317
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install(libc, program: bytes, flags: int) -> int:
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    return libc.syscall(SYS_SECCOMP, SECCOMP_SET_MODE_FILTER, flags, ctypes.byref(fprog))


def main() -> None:
    notify_fd, notify_filter, kill_filter = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    command = sys.argv[5:]
    channel = socket.socket(fileno=notify_fd)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        sys.exit("portal sandbox: cannot set no_new_privs")
    with open(notify_filter, "rb") as handle:
        listener = install(libc, handle.read(), SECCOMP_FILTER_FLAG_NEW_LISTENER)
    if listener >= 0:
        socket.send_fds(channel, [b"notify"], [listener])
        os.close(listener)
    else:
        with open(kill_filter, "rb") as handle:
            if install(libc, handle.read(), 0) != 0:
                sys.exit("portal sandbox: cannot install the system-call filter")
        channel.sendall(b"kill")
    channel.close()
    os.execvp(command[0], command)


main()
