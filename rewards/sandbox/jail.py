"""Child side, stdlib only: the namespaces and the new root the solution runs in.

`unshare()` (in the launcher) creates fresh network, mount and PID namespaces (through a user namespace when not
root); the launcher then forks, and its child, PID 1 of the new PID namespace, calls `new_root()`, which builds
the only filesystem the solution will see and pivots into it:

    /            an empty tmpfs, read-only once built
    /tmp         the working dir: a size-capped tmpfs (noexec: no loading a .so the solution wrote), owned by the
                 sandbox uid; HOME is an empty dir in it
    /dev/null, /dev/zero, /dev/urandom   bind mounts of the host's devices
    /proc        a new procfs of the new PID namespace (only pid dirs where the kernel supports subset=pid)
    the Python installation: the interpreter's stdlib dirs (sys.path under -I -S) and the dirs of the shared
                 libraries it has mapped (libc, libm, libpython, lib-dynload), read-only bind mounts at their
                 own paths, so later imports and their dlopen()s still resolve

Deny by default: /etc, /home, /root (but for the path down to a Python that lives there), /var, the repository,
the problem files, the caller's temp files, other processes: none of it exists in the new root. Anything the
caller asks to hide is also never bound, and covered by an empty tmpfs if it lies inside a bound dir.
"""

from __future__ import annotations

import os
import sys

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = (
    1, 2, 4, 8, 32, 4096, 16384, 1 << 18)
MNT_DETACH = 2
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}  # glibc has no pivot_root() wrapper
_OPT_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": 1024, "nodiratime": 2048,
              "relatime": 1 << 21, "strictatime": 1 << 24}
DEVICES = ("null", "zero", "urandom")
WORK = "/tmp"  # the working dir inside the new root


class SetupError(RuntimeError):
    pass


def libc():
    import ctypes

    lib = ctypes.CDLL(None, use_errno=True)
    lib.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    return lib, ctypes


def _check(rc: int, what: str, ctypes) -> None:
    if rc != 0:
        raise SetupError(f"{what}: {os.strerror(ctypes.get_errno())}")


def unshare(userns: bool, layers: dict) -> None:
    """New net + mount + PID namespaces for the children of this process (the PID namespace takes effect for the
    next fork). Through a user namespace, mapping ourselves to root inside so mount() is permitted."""
    lib, ctypes = libc()
    my_uid, my_gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | (CLONE_NEWUSER if userns else 0)
    _check(lib.unshare(flags), "unshare", ctypes)
    layers.update(net=True, pidns=True, userns=userns)
    if userns:
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {my_uid} 1"), ("gid_map", f"0 {my_gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)


def _mounts() -> list[tuple[str, int]]:
    """(mount point, per-mount flags to keep) for every mount, from /proc/self/mountinfo. Inside a user namespace
    the flags of an inherited mount are locked: a remount must repeat them or it fails with EPERM."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")  # \040 etc. are octal escapes
            out.append((point, sum(_OPT_FLAGS.get(opt, 0) for opt in fields[5].split(","))))
    return out


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip(os.sep) + os.sep)


def python_sources(hide: list[str]) -> list[str]:
    """What the interpreter needs to keep importing: its sys.path dirs (the stdlib, lib-dynload; under -I -S no
    site-packages) and the dirs of the shared libraries it has mapped (so an extension module imported later finds
    libc/libm/libz there: with no /etc/ld.so.cache the loader falls back to those default dirs). Nothing under a
    hidden dir; nested dirs folded into their parent (bound recursively)."""
    paths = {os.path.abspath(p) for p in sys.path if p and os.path.exists(p)}
    with open("/proc/self/maps") as f:
        for line in f:
            name = line.split(maxsplit=5)[-1].strip()
            if name.startswith("/") and ".so" in os.path.basename(name) and os.path.isfile(name):
                paths.add(os.path.dirname(name))
    paths = {p for p in paths if p != "/" and not any(_under(p, h) for h in hide)}
    return sorted(p for p in paths if not any(q != p and _under(p, q) for q in paths))


def _mkpath(root: str, path: str, is_dir: bool) -> str:
    target = root + path
    os.makedirs(target if is_dir else os.path.dirname(target), mode=0o755, exist_ok=True)
    if not is_dir and not os.path.exists(target):
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
    return target


def _bind(lib, ctypes, root: str, src: str, mounts: list[tuple[str, int]], extra: int) -> None:
    """Bind `src` at the same path under `root`, then remount it read-only (+ extra flags, + its locked flags)."""
    target = _mkpath(root, src, os.path.isdir(src))
    _check(lib.mount(src.encode(), target.encode(), None, MS_BIND | MS_REC, None), f"bind {src}", ctypes)
    keep = max(((p, f) for p, f in mounts if _under(src, p)), key=lambda m: len(m[0]), default=("/", 0))[1]
    flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | extra | keep
    _check(lib.mount(None, target.encode(), None, flags, None), f"read-only {src}", ctypes)


def _proc(lib, root: str) -> str:
    """A procfs of our own PID namespace (we are its PID 1): /proc/1 is this process, no other process exists.
    subset=pid (Linux 5.8+) also leaves out the system-wide files. Without it, or if the kernel refuses (a user
    namespace needs a fully visible /proc to mount one), the new root simply has no /proc."""
    os.mkdir(root + "/proc", 0o555)
    for opts in (b"subset=pid,hidepid=invisible", b"hidepid=2", None):
        if lib.mount(b"proc", (root + "/proc").encode(), b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) == 0:
            return f"own ({(opts or b'defaults').decode()})"
    return "none (mount refused)"


def _pivot(lib, ctypes, root: str) -> None:
    """pivot_root(".", ".") then detach the old root stacked on top (pivot_root(2)): no old root stays reachable."""
    nr = SYS_PIVOT_ROOT.get(os.uname().machine)
    if nr is None:
        raise SetupError(f"pivot_root: unknown syscall number on {os.uname().machine}")
    os.chdir(root)
    _check(lib.syscall(nr, b".", b"."), "pivot_root", ctypes)
    _check(lib.umount2(b".", MNT_DETACH), "detach old root", ctypes)
    os.chdir("/")


def new_root(host_work: str, cfg: dict, layers: dict) -> str:
    """Build the new root on `host_work` (a fresh dir of the caller's) and pivot into it; returns the working dir
    inside it. Must run as PID 1 of the new PID namespace (for /proc). Raises SetupError / OSError."""
    lib, ctypes = libc()
    mounts = _mounts()
    _check(lib.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make-private", ctypes)  # nothing reaches the host
    root = host_work
    _check(lib.mount(b"tmpfs", root.encode(), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                     b"size=1m,nr_inodes=1024,mode=755"), "root tmpfs", ctypes)
    os.mkdir(root + WORK, 0o700)
    owner = f",uid={cfg['uid']},gid={cfg['uid']}" if cfg["uid"] is not None else ""
    opts = f"size={cfg['fsize_mb'] * 4}m,mode=700,nr_inodes=4096{owner}".encode()
    _check(lib.mount(b"tmpfs", (root + WORK).encode(), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts),
           "work tmpfs", ctypes)
    for dev in DEVICES:
        _bind(lib, ctypes, root, f"/dev/{dev}", mounts, MS_NOEXEC)
        # read-only binds of /dev/null still accept writes: a device's writes do not go through the mount
    sources = python_sources(cfg["hide"])
    for src in sources:
        _bind(lib, ctypes, root, src, mounts, 0)  # exec allowed: extension modules are mmap()ed PROT_EXEC
    covered = []
    for h in cfg["hide"]:  # a hidden dir inside a bound one (the repository inside the Python prefix, say)
        if os.path.isdir(root + h) and any(_under(h, s) for s in sources):
            _check(lib.mount(b"tmpfs", (root + h).encode(), b"tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV,
                             b"size=4k,mode=755"), f"cover {h}", ctypes)
            covered.append(h)
    layers["proc"] = _proc(lib, root)
    _pivot(lib, ctypes, root)
    _check(lib.mount(None, b"/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, None),
           "read-only root", ctypes)
    os.chdir(WORK)
    layers.update(new_root=True, readonly_fs=True, tmpfs_work=True, visible=sources, covered=covered,
                  hidden=list(cfg["hide"]))
    return WORK


def drop_caps() -> None:
    """Clear every capability (user-namespace path: we are 'root' inside it and must not remount things back)."""
    lib, ctypes = libc()
    hdr = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = (ctypes.c_uint32 * 6)()
    if lib.capset(hdr, data) != 0:
        raise SetupError(f"capset: {os.strerror(ctypes.get_errno())}")
