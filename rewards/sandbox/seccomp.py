"""Child side, stdlib only: a seccomp-BPF syscall filter, the second wall behind the namespaces.

Why hand-built (ctypes + struct) and not libseccomp: it needs no package (pyseccomp / python3-seccomp would have to
be importable from a child started with `python -I -S`, i.e. without site-packages), and a filter this simple
(an allow-list of syscall numbers, no argument checks) is a few dozen lines of classic BPF.

The program, evaluated by the kernel on every syscall of the child from `install()` on:
    arch != the arch this table is for     -> KILL_PROCESS (an i386 `int 0x80` or x32 syscall would otherwise be
                                              checked against the wrong numbers)
    x86_64 nr with the x32 bit set         -> KILL_PROCESS
    nr in ALLOW                            -> ALLOW   (what CPython needs to run pure code, read its stdlib and
                                                       write files in its temp dir)
    nr in KILL                             -> KILL_PROCESS (only an escape attempt calls these: mount, unshare,
                                                       setns, ptrace, execve after start-up, bpf, kexec, ...)
    anything else                          -> ERRNO(EPERM) (socket, connect, clone/fork, kill, prctl, memfd, ...:
                                                       deny by default, but as an error Python reports, so a
                                                       solution that merely probes fails cleanly)
A KILL shows up in the caller as the child dying of SIGSYS (a `seccomp` violation).
"""

from __future__ import annotations

import os
import struct

SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_ERRNO, SECCOMP_RET_ALLOW = 0x80000000, 0x00050000, 0x7FFF0000
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
X32_SYSCALL_BIT = 0x40000000
_LD_W_ABS, _JEQ_K, _JGE_K, _RET_K = 0x20, 0x15, 0x35, 0x06  # BPF_LD|W|ABS, JMP|JEQ|K, JMP|JGE|K, RET|K
_ALLOW, _KILL = "allow", "kill"

# syscall numbers per architecture (from the kernel's asm/unistd_64.h and asm-generic/unistd.h)
_X86_64_ALLOW = (
    "read=0 write=1 readv=19 writev=20 pread64=17 pwrite64=18 preadv=295 pwritev=296 preadv2=327 pwritev2=328 "
    "open=2 openat=257 close=3 close_range=436 lseek=8 fstat=5 stat=4 lstat=6 newfstatat=262 statx=332 "
    "fstatfs=138 statfs=137 access=21 faccessat=269 faccessat2=439 getdents64=217 getcwd=79 chdir=80 fchdir=81 "
    "readlink=89 readlinkat=267 fcntl=72 ioctl=16 dup=32 dup2=33 dup3=292 pipe=22 pipe2=293 mkdir=83 mkdirat=258 "
    "rmdir=84 unlink=87 unlinkat=263 rename=82 renameat=264 renameat2=316 ftruncate=77 truncate=76 fsync=74 "
    "fdatasync=75 fadvise64=221 umask=95 utimensat=280 fchmod=91 chmod=90 fchmodat=268 select=23 pselect6=270 "
    "poll=7 ppoll=271 sendfile=40 copy_file_range=326 flock=73 getxattr=191 lgetxattr=192 fgetxattr=193 "
    "listxattr=194 llistxattr=195 flistxattr=196 brk=12 mmap=9 munmap=11 mremap=25 mprotect=10 madvise=28 "
    "msync=26 rt_sigaction=13 rt_sigprocmask=14 rt_sigreturn=15 rt_sigpending=127 sigaltstack=131 alarm=37 "
    "setitimer=38 getitimer=36 pause=34 getpid=39 getppid=110 gettid=186 getuid=102 geteuid=107 getgid=104 "
    "getegid=108 getgroups=115 getresuid=118 getresgid=120 getpgid=121 getpgrp=111 getsid=124 getrlimit=97 "
    "prlimit64=302 getrusage=98 times=100 uname=63 sysinfo=99 sched_getaffinity=204 sched_yield=24 getcpu=309 "
    "getpriority=140 clock_gettime=228 clock_getres=229 clock_nanosleep=230 nanosleep=35 gettimeofday=96 time=201 "
    "futex=202 set_robust_list=273 get_robust_list=274 set_tid_address=218 rseq=334 restart_syscall=219 "
    "getrandom=318 exit=60 exit_group=231 arch_prctl=158 wait4=61 waitid=247")
_X86_64_KILL = (
    "execve=59 execveat=322 ptrace=101 process_vm_readv=310 process_vm_writev=311 mount=165 umount2=166 "
    "pivot_root=155 chroot=161 unshare=272 setns=308 kexec_load=246 kexec_file_load=320 bpf=321 init_module=175 "
    "finit_module=313 delete_module=176 perf_event_open=298 userfaultfd=323 keyctl=250 add_key=248 "
    "request_key=249 io_uring_setup=425 io_uring_enter=426 io_uring_register=427 fsopen=430 fsmount=432 "
    "fsconfig=431 fspick=433 move_mount=429 open_tree=428 mount_setattr=442 swapon=167 swapoff=168 reboot=169 "
    "settimeofday=164 clock_settime=227 adjtimex=159 clock_adjtime=305 iopl=172 ioperm=173 acct=163 "
    "quotactl=179 name_to_handle_at=303 open_by_handle_at=304 syslog=103 personality=135 setuid=105 setgid=106 "
    "setreuid=113 setregid=114 setresuid=117 setresgid=119 setgroups=116 setfsuid=122 setfsgid=123 capset=126 "
    "seccomp=317")
_AARCH64_ALLOW = (
    "read=63 write=64 readv=65 writev=66 pread64=67 pwrite64=68 preadv=69 pwritev=70 preadv2=286 pwritev2=287 "
    "openat=56 close=57 close_range=436 lseek=62 fstat=80 newfstatat=79 statx=291 fstatfs=44 statfs=43 "
    "faccessat=48 faccessat2=439 getdents64=61 getcwd=17 chdir=49 fchdir=50 readlinkat=78 fcntl=25 ioctl=29 "
    "dup=23 dup3=24 pipe2=59 mkdirat=34 unlinkat=35 renameat=38 renameat2=276 ftruncate=46 truncate=45 fsync=82 "
    "fdatasync=83 fadvise64=223 umask=166 utimensat=88 fchmod=52 fchmodat=53 pselect6=72 ppoll=73 sendfile=71 "
    "copy_file_range=285 flock=32 getxattr=8 lgetxattr=9 fgetxattr=10 listxattr=11 llistxattr=12 flistxattr=13 "
    "brk=214 mmap=222 munmap=215 mremap=216 mprotect=226 madvise=233 msync=227 rt_sigaction=134 "
    "rt_sigprocmask=135 rt_sigreturn=139 rt_sigpending=136 sigaltstack=132 setitimer=103 getitimer=102 "
    "getpid=172 getppid=173 gettid=178 getuid=174 geteuid=175 getgid=176 getegid=177 getgroups=158 "
    "getresuid=148 getresgid=150 getpgid=155 getsid=156 getrlimit=163 prlimit64=261 getrusage=165 times=153 "
    "uname=160 sysinfo=179 sched_getaffinity=123 sched_yield=124 getcpu=168 getpriority=141 clock_gettime=113 "
    "clock_getres=114 clock_nanosleep=115 nanosleep=101 gettimeofday=169 futex=98 set_robust_list=99 "
    "get_robust_list=100 set_tid_address=96 rseq=293 restart_syscall=128 getrandom=278 exit=93 exit_group=94 "
    "wait4=260 waitid=95")
_AARCH64_KILL = (
    "execve=221 execveat=281 ptrace=117 process_vm_readv=270 process_vm_writev=271 mount=40 umount2=39 "
    "pivot_root=41 chroot=51 unshare=97 setns=268 kexec_load=104 kexec_file_load=294 bpf=280 init_module=105 "
    "finit_module=273 delete_module=106 perf_event_open=241 userfaultfd=282 keyctl=219 add_key=217 "
    "request_key=218 io_uring_setup=425 io_uring_enter=426 io_uring_register=427 fsopen=430 fsmount=432 "
    "fsconfig=431 fspick=433 move_mount=429 open_tree=428 mount_setattr=442 swapon=224 swapoff=225 reboot=142 "
    "settimeofday=170 clock_settime=112 adjtimex=171 clock_adjtime=266 acct=89 quotactl=60 syslog=116 "
    "personality=92 setuid=146 setgid=144 setreuid=145 setregid=143 setresuid=147 setresgid=149 setgroups=159 "
    "setfsuid=151 setfsgid=152 capset=91 seccomp=277")
# machine -> (AUDIT_ARCH_* value the kernel puts in seccomp_data.arch, allowed, killed)
ARCHES = {"x86_64": (0xC000003E, _X86_64_ALLOW, _X86_64_KILL), "aarch64": (0xC00000B7, _AARCH64_ALLOW, _AARCH64_KILL)}


def _numbers(table: str) -> list[int]:
    return sorted({int(item.split("=")[1]) for item in table.split()})


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)  # struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}


def build(machine: str) -> bytes:
    """The filter program for `machine` as packed sock_filter structs. KeyError for an unsupported machine."""
    arch, allow, kill = ARCHES[machine]
    checks = [(nr, _ALLOW) for nr in _numbers(allow)] + [(nr, _KILL) for nr in _numbers(kill)]
    prog = [_insn(_LD_W_ABS, 4),  # seccomp_data.arch
            _insn(_JEQ_K, arch, jt=1),
            _insn(_RET_K, SECCOMP_RET_KILL_PROCESS),
            _insn(_LD_W_ABS, 0)]  # seccomp_data.nr
    if len(checks) + 2 > 255:  # classic BPF jump offsets are 8 bits
        raise ValueError("seccomp filter too long for forward jumps")
    if machine == "x86_64":
        prog += [_insn(_JGE_K, X32_SYSCALL_BIT, jt=len(checks) + 2)]  # -> the KILL return below
    # the returns follow the checks: [deny (EPERM), allow, kill]; each check jumps forward to its return
    for i, (nr, action) in enumerate(checks):
        target = len(checks) + (1 if action == _ALLOW else 2)  # index of the return, counted from the first check
        prog.append(_insn(_JEQ_K, nr, jt=target - i - 1))
    prog += [_insn(_RET_K, SECCOMP_RET_ERRNO | 1),  # EPERM
             _insn(_RET_K, SECCOMP_RET_ALLOW),
             _insn(_RET_K, SECCOMP_RET_KILL_PROCESS)]
    return b"".join(prog)


def install(libc, ctypes) -> str:
    """Install the filter on this (single-threaded) process. Needs no_new_privs set before (or CAP_SYS_ADMIN).
    Returns a description for the `layers` report; raises OSError / KeyError when it cannot be installed."""
    machine = os.uname().machine
    code = build(machine)
    n = len(code) // 8
    buf = ctypes.create_string_buffer(code, len(code))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = SockFprog(n, ctypes.cast(buf, ctypes.c_void_p))
    rc = libc.prctl(ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER),
                    ctypes.cast(ctypes.pointer(prog), ctypes.c_void_p), ctypes.c_ulong(0), ctypes.c_ulong(0))
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_SECCOMP): {os.strerror(err)}")
    _, allow, kill = ARCHES[machine]
    return f"filter ({machine}: {len(_numbers(allow))} allowed, {len(_numbers(kill))} kill, rest EPERM)"
