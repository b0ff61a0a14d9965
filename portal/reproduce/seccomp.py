"""The system-call filter team code runs under (a classic BPF program for ``bwrap --seccomp``).

The namespaces already make the network unreachable; this filter makes every
attempt *visible*, whatever the language or library: opening any socket other
than a local (``AF_UNIX``) one, creating or entering a namespace, or asking for
a 32-bit or x32 system call ends the whole process with ``SIGSYS``, which the
runner reports as a forbidden call. Calls that only widen what a process can
observe or attack in the kernel (keyrings, BPF, perf events, ``io_uring``,
which can open sockets without the ``socket`` call, ``ptrace``, mounts) fail
with ``EPERM``; ``clone3`` fails with ``ENOSYS`` so that the C library falls
back to ``clone``, whose namespace flags the filter can read.

Only x86-64 is described; on other machines :func:`program` returns ``None``
and the run record says the filter was not in force.
"""

from __future__ import annotations

import errno
import platform
import struct

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000
AF_UNIX = 1

# x86-64 system call numbers (arch/x86/entry/syscalls/syscall_64.tbl)
SOCKET, SOCKETPAIR, CLONE, UNSHARE, SETNS, CLONE3 = 41, 53, 56, 272, 308, 435
DENIED = {
    "ptrace": 101,
    "mount": 165,
    "umount2": 166,
    "pivot_root": 155,
    "add_key": 248,
    "request_key": 249,
    "keyctl": 250,
    "perf_event_open": 298,
    "bpf": 321,
    "userfaultfd": 323,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
}
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME
CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000
CLONE_NAMESPACES |= 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080

RET_KILL_PROCESS = 0x80000000
RET_USER_NOTIF = 0x7FC00000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000

# classic BPF opcodes
LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
RET_K = 0x06  # BPF_RET | BPF_K
JA = 0x05  # BPF_JMP | BPF_JA

# offsets in struct seccomp_data
NR, ARCH, ARG0 = 0, 4, 16


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> tuple[int, int, int, int]:
    return (code, jt, jf, k)


def _program(attempt: int) -> list[tuple[int, int, int, int]]:
    """The filter as instructions; ``attempt`` is the action for a forbidden attempt.

    Jumps are relative and forward only: every test jumps into the actions at the end.
    """
    allow, attempted, eperm, enosys, kill = range(5)
    tail = [
        _insn(RET_K, RET_ALLOW),
        _insn(RET_K, attempt),
        _insn(RET_K, RET_ERRNO | errno.EPERM),
        _insn(RET_K, RET_ERRNO | errno.ENOSYS),
        _insn(RET_K, RET_KILL_PROCESS),
    ]
    tests = [(JGE_K, X32_SYSCALL_BIT, kill), (JEQ_K, UNSHARE, attempted)]
    tests += [(JEQ_K, SETNS, attempted), (JEQ_K, CLONE3, enosys)]
    tests += [(JEQ_K, number, eperm) for number in DENIED.values()]
    # layout: 3 head, the tests, 4 dispatches (socket, socketpair, clone, ja), 4 argument checks
    before_tail = 3 + len(tests) + 4 + 4
    socket_check, clone_check = before_tail - 4, before_tail - 2
    body: list[tuple[int, int, int, int]] = []

    def to(index: int) -> int:  # from the instruction about to be appended to ``index``
        return index - len(body) - 1

    def action(which: int) -> int:
        return to(before_tail + which)

    body.append(_insn(LD_W_ABS, ARCH))
    body.append(_insn(JEQ_K, AUDIT_ARCH_X86_64, 0, action(kill)))
    body.append(_insn(LD_W_ABS, NR))
    for code, value, which in tests:
        body.append(_insn(code, value, action(which), 0))
    body.append(_insn(JEQ_K, SOCKET, to(socket_check), 0))
    body.append(_insn(JEQ_K, SOCKETPAIR, to(socket_check), 0))
    body.append(_insn(JEQ_K, CLONE, to(clone_check), 0))
    body.append(_insn(JA, action(allow)))
    body.append(_insn(LD_W_ABS, ARG0))  # socket(domain, …): only AF_UNIX
    body.append(_insn(JEQ_K, AF_UNIX, action(allow), action(attempted)))
    body.append(_insn(LD_W_ABS, ARG0))  # clone(flags, …): no namespace flag
    body.append(_insn(JSET_K, CLONE_NAMESPACES, action(attempted), action(allow)))
    assert len(body) == before_tail, (len(body), before_tail)
    return body + tail


def program(*, notify: bool = False) -> bytes | None:
    """The filter as ``struct sock_filter`` bytes, or None off x86-64 Linux.

    ``notify``: forbidden attempts go to a supervisor (``SECCOMP_RET_USER_NOTIF``),
    which records them and answers ``EPERM``; otherwise they kill the process.
    Other architectures and x32 calls always kill.
    """
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        return None
    instructions = _program(RET_USER_NOTIF if notify else RET_KILL_PROCESS)
    return b"".join(struct.pack("<HBBI", *insn) for insn in instructions)
