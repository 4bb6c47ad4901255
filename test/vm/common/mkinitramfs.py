#!/usr/bin/env python3
"""Build a guest kernel and initramfs from Debian packages, cached between runs.

Two commands:

  image    Fetch (apt-get download) the Debian kernel package and the listed packages with the
           library packages they depend on, then assemble an initramfs: the listed binaries with
           every shared library ldd finds for them, the listed kernel modules with their
           dependencies (in load order, with a modules.dep, since Debian's kernel package ships
           none), and the listed files. The result lands in CACHE/images/<key>/ where the key
           hashes the package versions and every input, so a second run with the same inputs
           only prints the paths. Prints KERNEL=<path>, INITRD=<path>, KVER=<version>.

  overlay  Write a directory as an uncompressed cpio archive; the kernel unpacks archives
           concatenated after the image's one over it, so per-run files (test scripts, their
           configuration) need no rebuild of the cached image.

Nothing here needs root but apt-get download needs Debian's apt lists (apt-get update) and
network access to the mirrors unless CACHE/debs already holds the packages.
"""

import argparse
import gzip
import hashlib
import io
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
import tempfile

LIB_DIRS = ["lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64", "lib", "usr/lib"]


class BuildError(Exception):
    pass


def log(msg):
    print("mkinitramfs: " + msg, file=sys.stderr, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


# --- Debian packages -------------------------------------------------------------------------

def candidate_versions(pkgs):
    """The version apt would install of each package (one apt-cache call for all)."""
    out = run(["apt-cache", "policy"] + list(pkgs))
    found = {}
    cur = None
    for line in out.stdout.splitlines():
        if line and not line[0].isspace() and line.rstrip().endswith(":"):
            cur = line.rstrip()[:-1]
            continue
        m = re.match(r"^\s*Candidate:\s*(\S+)", line)
        if m and cur is not None and m.group(1) != "(none)":
            found[cur] = m.group(1)
    missing = [p for p in pkgs if p not in found]
    if out.returncode != 0 or missing:
        raise BuildError("apt knows no installable version of %s (run 'apt-get update'?)" %
                         " ".join(missing or pkgs))
    return [(p, found[p]) for p in pkgs]


def package_depends(pkgs):
    """Map each package to its Depends/PreDepends (first of each alternative group)."""
    out = run(["apt-cache", "depends", "--no-recommends", "--no-suggests", "--no-conflicts",
               "--no-breaks", "--no-replaces", "--no-enhances"] + sorted(pkgs))
    if out.returncode != 0:
        raise BuildError("apt-cache depends failed: " + out.stdout.strip()[-500:])
    deps = {}
    cur = None
    in_alt = False
    for line in out.stdout.splitlines():
        if line and not line[0].isspace():
            cur = line.strip()
            deps[cur] = []
            in_alt = False
            continue
        m = re.match(r"^\s*(\|?)(Pre)?Depends:\s*(\S+)", line)
        if not m or cur is None:
            continue
        name = m.group(3)
        # "|Depends: a" starts an alternative group whose later members we skip.
        if not in_alt and not name.startswith("<"):
            deps[cur].append(name)
        in_alt = m.group(1) == "|"
    return deps


def library_closure(pkgs):
    """The packages plus every lib* package they depend on, transitively."""
    seen = set(pkgs)
    todo = set(pkgs)
    while todo:
        deps = package_depends(todo)
        todo = set()
        for names in deps.values():
            for name in names:
                base = name.split(":")[0]
                if base.startswith("lib") and base not in seen:
                    seen.add(base)
                    todo.add(base)
    return sorted(seen)


def kernel_package(meta):
    """linux-image-amd64 is a metapackage: the image package it depends on."""
    if not meta.startswith("linux-image-") or re.match(r"linux-image-\d", meta):
        return meta
    deps = package_depends([meta]).get(meta, [])
    for name in deps:
        if re.match(r"linux-image-\d", name):
            return name
    raise BuildError("no kernel image package among the dependencies of " + meta)


def apt_lists_stamp():
    """Names, sizes and times of apt's package lists: what the versions apt picks depend on."""
    h = hashlib.sha256()
    d = "/var/lib/apt/lists"
    try:
        for f in sorted(os.listdir(d)):
            st = os.stat(os.path.join(d, f))
            h.update(("%s %d %d\n" % (f, st.st_size, st.st_mtime_ns)).encode())
    except OSError:
        pass
    return h.hexdigest()


def resolve(cache, kernel, pkgs):
    """[(kernel image package, version), (package, version)...]: the packages with their library
    closure at apt's candidate versions. apt-cache takes seconds a call on a busy machine, so the
    answer is kept until apt's lists change."""
    key = hashlib.sha256(("%s\n%s\n%s" % (kernel, " ".join(pkgs), apt_lists_stamp()))
                         .encode()).hexdigest()[:16]
    path = os.path.join(cache, "resolved", key)
    try:
        with open(path) as f:
            wanted = [tuple(line.split()) for line in f if line.strip()]
        if wanted:
            return wanted
    except OSError:
        pass
    kpkg = kernel_package(kernel)
    wanted = candidate_versions([kpkg] + library_closure(pkgs))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("".join("%s %s\n" % pv for pv in wanted))
    os.replace(tmp, path)
    return wanted


def deb_filename(pkg, version):
    return "%s_%s_amd64.deb" % (pkg, version.replace(":", "%3a"))


def fetch(debdir, pkgs):
    """apt-get download every (pkg, version) not in debdir yet; return their paths."""
    os.makedirs(debdir, exist_ok=True)
    paths = []
    missing = []
    for pkg, ver in pkgs:
        path = os.path.join(debdir, deb_filename(pkg, ver))
        if not os.path.exists(path):
            alt = [f for f in os.listdir(debdir)
                   if f.startswith(pkg + "_" + ver.replace(":", "%3a") + "_")]
            if alt:
                path = os.path.join(debdir, alt[0])
            else:
                missing.append("%s=%s" % (pkg, ver))
        paths.append(path)
    if missing:
        log("downloading " + " ".join(missing))
        tmp = tempfile.mkdtemp(dir=debdir, prefix=".dl.")
        try:
            out = run(["apt-get", "download", "-q"] + missing, cwd=tmp, timeout=300)
            if out.returncode != 0:
                errs = [l for l in out.stdout.splitlines() if l.startswith("E:")]
                raise BuildError("apt-get download failed (no network or mirror?), %d error(s), "
                                 "the first: %s" % (len(errs), (errs or
                                                    out.stdout.strip().splitlines() or [""])[0]))
            for f in os.listdir(tmp):
                os.replace(os.path.join(tmp, f), os.path.join(debdir, f))
        except subprocess.TimeoutExpired:
            raise BuildError("apt-get download did not finish within 300 s")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        paths = []
        for pkg, ver in pkgs:
            cands = [f for f in os.listdir(debdir)
                     if f.startswith(pkg + "_" + ver.replace(":", "%3a") + "_")]
            if not cands:
                raise BuildError("apt-get download did not produce %s %s" % (pkg, ver))
            paths.append(os.path.join(debdir, cands[0]))
    return paths


def extract(deb, dest, members=None):
    cmd = "dpkg-deb --fsys-tarfile '%s' | tar -x -C '%s'" % (deb, dest)
    if members:
        cmd += " --wildcards " + " ".join("'%s'" % m for m in members)
    out = run(["bash", "-o", "pipefail", "-c", cmd])
    if out.returncode != 0:
        raise BuildError("extracting %s failed: %s" % (os.path.basename(deb), out.stdout[-300:]))


# --- the initramfs tree ----------------------------------------------------------------------

class Tree:
    """Files of the archive by path (no leading slash): ('file', data, mode) | ('dir', mode) |
    ('link', target)."""

    def __init__(self):
        self.entries = {}

    def add_dir(self, path, mode=0o755):
        path = path.strip("/")
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            p = "/".join(parts[:i])
            if p and p not in self.entries:
                self.entries[p] = ("dir", mode)

    def add_file(self, path, data, mode=0o644):
        path = path.strip("/")
        self.add_dir(os.path.dirname(path))
        self.entries[path] = ("file", data, mode)

    def add_link(self, path, target):
        path = path.strip("/")
        self.add_dir(os.path.dirname(path))
        self.entries[path] = ("link", target)

    def add_host_file(self, src, dest):
        st = os.stat(src)
        with open(src, "rb") as f:
            self.add_file(dest, f.read(), stat.S_IMODE(st.st_mode))

    def cpio(self):
        out = io.BytesIO()
        ino = 1
        for path in sorted(self.entries):
            e = self.entries[path]
            if e[0] == "dir":
                mode, data = stat.S_IFDIR | e[1], b""
            elif e[0] == "file":
                mode, data = stat.S_IFREG | e[2], e[1]
            else:
                mode, data = stat.S_IFLNK | 0o777, e[1].encode()
            cpio_entry(out, path, mode, data, ino)
            ino += 1
        cpio_entry(out, "TRAILER!!!", 0, b"", 0)
        return out.getvalue()


def cpio_entry(out, name, mode, data, ino):
    """One 'newc' (SVR4, no CRC) record; owner root, mtime 0 so the archive is reproducible."""
    nameb = name.encode() + b"\0"
    nlink = 2 if stat.S_ISDIR(mode) else 1
    hdr = "070701" + "".join("%08X" % v for v in (
        ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(nameb), 0))
    out.write(hdr.encode() + nameb)
    out.write(b"\0" * ((4 - (110 + len(nameb)) % 4) % 4))
    out.write(data)
    out.write(b"\0" * ((4 - len(data) % 4) % 4))


def write_dir_cpio(root, output):
    """A host directory as an uncompressed archive (files, directories, symlinks)."""
    tree = Tree()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        if rel != ".":
            tree.add_dir(rel, stat.S_IMODE(os.stat(dirpath).st_mode))
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            relf = os.path.normpath(os.path.join(rel, name))
            if os.path.islink(full):
                tree.add_link(relf, os.readlink(full))
            elif os.path.isfile(full):
                tree.add_host_file(full, relf)
    with open(output, "wb") as f:
        f.write(tree.cpio())


# --- shared libraries ------------------------------------------------------------------------

def add_binary(tree, stage, path, seen):
    """Copy PATH (absolute, as in the packages) from the staging tree with its libraries."""
    src = os.path.join(stage, path.lstrip("/"))
    if not os.path.isfile(src):
        raise BuildError("no %s in the extracted packages" % path)
    tree.add_host_file(src, path)
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = ":".join(os.path.join(stage, d) for d in LIB_DIRS)
    out = run(["ldd", src], env=env)
    if "not a dynamic executable" in out.stdout or "statically linked" in out.stdout:
        return
    if out.returncode != 0:
        raise BuildError("ldd %s failed: %s" % (path, out.stdout.strip()))
    for line in out.stdout.splitlines():
        line = line.strip()
        if "not found" in line:
            raise BuildError("%s needs %s, which no listed package provides" %
                             (path, line.split()[0]))
        m = re.match(r"^(\S+) => (\S+) \(", line) or re.match(r"^(/\S+) \(", line)
        if not m:
            continue
        resolved = m.group(m.lastindex)
        if resolved in seen:
            continue
        seen.add(resolved)
        if resolved.startswith(stage + "/"):
            dest = resolved[len(stage):]
            real = resolved
        else:
            # Found on the host (the loader, or a library no listed package ships): take the
            # packaged copy when one exists at the same path.
            dest = resolved
            real = os.path.join(stage, resolved.lstrip("/"))
            if not os.path.exists(real):
                real = resolved
                log("taking %s from the host" % resolved)
        tree.add_file(dest, open(os.path.realpath(real), "rb").read(), 0o755)


# --- kernel modules --------------------------------------------------------------------------

def modinfo(path):
    """Fields of a .ko's .modinfo section (ELF64 little-endian)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        raise BuildError("%s is not an ELF64 module" % path)
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3a)

    def section(i):
        off = shoff + i * shentsize
        name, _typ, _flags, _addr, offset, size = struct.unpack_from("<IIQQQQ", data, off)
        return name, offset, size

    _, stroff, _ = section(shstrndx)
    fields = {}
    for i in range(shnum):
        name, offset, size = section(i)
        end = data.index(b"\0", stroff + name)
        if data[stroff + name:end] == b".modinfo":
            for item in data[offset:offset + size].split(b"\0"):
                if b"=" in item:
                    k, v = item.decode(errors="replace").split("=", 1)
                    fields.setdefault(k, []).append(v)
    return fields


def add_modules(tree, kstage, kver, names):
    """The modules in NAMES and their dependencies, deps first; returns the load order."""
    base = os.path.join(kstage, "lib/modules", kver)
    index = {}
    for dirpath, _, files in os.walk(os.path.join(base, "kernel")):
        for f in files:
            if f.endswith(".ko"):
                index[f[:-3].replace("-", "_")] = os.path.relpath(os.path.join(dirpath, f), base)
    builtin = set()
    bpath = os.path.join(base, "modules.builtin")
    if os.path.exists(bpath):
        for line in open(bpath):
            builtin.add(os.path.basename(line.strip())[:-3].replace("-", "_"))
    order = []
    deps_of = {}

    def visit(name, stack):
        name = name.replace("-", "_")
        if name in order or name in builtin:
            return
        if name in stack:
            raise BuildError("module dependency loop through " + name)
        if name not in index:
            raise BuildError("no module %s in kernel %s" % (name, kver))
        info = modinfo(os.path.join(base, index[name]))
        deps = [d for d in ",".join(info.get("depends", [])).split(",") if d]
        deps_of[name] = deps
        for d in deps:
            visit(d, stack + [name])
        order.append(name)

    for name in names:
        visit(name, [])

    def closure(name, acc):
        for d in deps_of.get(name, []):
            d = d.replace("-", "_")
            if d in index and index[d] not in acc:
                acc.append(index[d])
                closure(d, acc)
        return acc

    dep_lines = []
    for name in order:
        tree.add_host_file(os.path.join(base, index[name]), "lib/modules/%s/%s" % (kver, index[name]))
        dep_lines.append("%s: %s\n" % (index[name], " ".join(closure(name, []))))
    tree.add_file("lib/modules/%s/modules.dep" % kver, "".join(dep_lines).encode())
    for extra in ("modules.builtin", "modules.order"):
        p = os.path.join(base, extra)
        if os.path.exists(p):
            tree.add_host_file(p, "lib/modules/%s/%s" % (kver, extra))
    tree.add_file("etc/keel-vm/modules",
                  "".join("/lib/modules/%s/%s\n" % (kver, index[n]) for n in order).encode())
    return order


# --- commands --------------------------------------------------------------------------------

def file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def cmd_image(args):
    cache = os.path.abspath(args.cache)
    debdir = os.path.join(cache, "debs")
    wanted = resolve(cache, args.kernel, args.packages)
    kpkg = wanted[0][0]
    kver = kpkg[len("linux-image-"):]

    files = []
    for spec in args.file:
        src, _, dest = spec.partition(":")
        if not dest or not os.path.isfile(src):
            raise BuildError("--file wants an existing SRC:DEST, not '%s'" % spec)
        files.append((src, dest))
    key = hashlib.sha256()
    for item in ([args.name, kver] + ["%s=%s" % pv for pv in wanted] + args.binaries +
                 ["m:" + m for m in args.modules] + ["p:" + p for p in args.pkgfile] +
                 ["f:%s:%s" % (d, file_digest(s)) for s, d in files] +
                 [file_digest(os.path.abspath(__file__))]):
        key.update(item.encode() + b"\n")
    outdir = os.path.join(cache, "images", "%s-%s" % (args.name, key.hexdigest()[:16]))
    kernel = os.path.join(outdir, "vmlinuz")
    initrd = os.path.join(outdir, "initrd.img")
    if not (os.path.exists(kernel) and os.path.exists(initrd)):
        debs = fetch(debdir, wanted)
        os.makedirs(os.path.join(cache, "tmp"), exist_ok=True)
        work = tempfile.mkdtemp(dir=os.path.join(cache, "tmp"))
        try:
            build(args, work, debs, kver, files, outdir)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        prune(cache, args.name, outdir, wanted)
    print("KERNEL=" + kernel)
    print("INITRD=" + initrd)
    print("KVER=" + kver)
    return 0


def prune(cache, name, keep, wanted):
    """Drop this image's older builds and the superseded versions of the packages it uses."""
    images = os.path.join(cache, "images")
    for d in os.listdir(images):
        full = os.path.join(images, d)
        if d.startswith(name + "-") and full != keep and "." not in d:
            shutil.rmtree(full, ignore_errors=True)
    debdir = os.path.join(cache, "debs")
    current = {p: "%s_%s_" % (p, v.replace(":", "%3a")) for p, v in wanted}
    for f in os.listdir(debdir):
        pkg = f.split("_", 1)[0]
        if pkg in current and not f.startswith(current[pkg]) and f.endswith(".deb"):
            os.unlink(os.path.join(debdir, f))


def build(args, work, debs, kver, files, outdir):
    log("building the %s image for kernel %s" % (args.name, kver))
    kstage = os.path.join(work, "kernel")
    stage = os.path.join(work, "root")
    os.makedirs(kstage)
    os.makedirs(stage)
    extract(debs[0], kstage, ["./boot/vmlinuz-*", "./lib/modules/*"])
    for deb in debs[1:]:
        extract(deb, stage)

    tree = Tree()
    for d in ("dev", "proc", "sys", "run", "tmp", "mnt", "root", "etc", "var/lib", "var/lock"):
        tree.add_dir(d)
    tree.add_file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    tree.add_file("etc/group", b"root:x:0:\n")
    seen = set()
    for b in args.binaries:
        add_binary(tree, stage, b, seen)
    for p in args.pkgfile:
        src = os.path.join(stage, p.lstrip("/"))
        if not os.path.isfile(src):
            raise BuildError("no %s in the extracted packages" % p)
        tree.add_host_file(src, p)
    order = add_modules(tree, kstage, kver, args.modules)
    for src, dest in files:
        tree.add_host_file(src, dest)

    data = gzip.compress(tree.cpio(), compresslevel=6, mtime=0)
    # An archive appended to this one must start 4-byte aligned: the kernel skips zero padding
    # between archives but takes an unaligned "070701" for compressed data.
    data += b"\0" * (-len(data) % 512)
    tmpout = "%s.%d.tmp" % (outdir, os.getpid())
    os.makedirs(tmpout)
    shutil.copyfile(os.path.join(kstage, "boot", "vmlinuz-" + kver), os.path.join(tmpout, "vmlinuz"))
    with open(os.path.join(tmpout, "initrd.img"), "wb") as f:
        f.write(data)
    with open(os.path.join(tmpout, "manifest"), "w") as f:
        f.write("kernel %s\nmodules %s\n" % (kver, " ".join(order)))
        for path in sorted(tree.entries):
            f.write("%s %s\n" % (tree.entries[path][0], path))
    try:
        os.rename(tmpout, outdir)
    except OSError:
        # Another run built the same image meanwhile: the same inputs, so keep the first.
        shutil.rmtree(tmpout, ignore_errors=True)
    log("initramfs %d KiB, %d modules" % (len(data) // 1024, len(order)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    im = sub.add_parser("image", help="build (or find in the cache) a kernel and initramfs")
    im.add_argument("--cache", required=True, help="cache directory (debs/, images/)")
    im.add_argument("--name", required=True, help="image name, part of its cache key")
    im.add_argument("--kernel", default="linux-image-amd64", help="kernel (meta)package")
    im.add_argument("--packages", nargs="*", default=[], help="Debian packages to unpack")
    im.add_argument("--binaries", nargs="*", default=[],
                    help="absolute paths in those packages, copied with their libraries")
    im.add_argument("--pkgfile", nargs="*", default=[],
                    help="other files of those packages, copied as they are")
    im.add_argument("--modules", nargs="*", default=[], help="kernel modules, deps added")
    im.add_argument("--file", action="append", default=[], help="SRC:DEST host file to add")
    ov = sub.add_parser("overlay", help="write a directory as an uncompressed cpio archive")
    ov.add_argument("root")
    ov.add_argument("output")
    args = ap.parse_args()
    try:
        if args.cmd == "image":
            return cmd_image(args)
        write_dir_cpio(args.root, args.output)
        return 0
    except BuildError as e:
        print("mkinitramfs: error: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
