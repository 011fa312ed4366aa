#!/usr/bin/env python3
"""crashstate.py PRE POST TRACE OUT: the state of a directory tree after a
power cut at the end of a command, built from the command's own operations.

PRE and POST are copies of the tree (e.g. a store) taken before and after
the command ran; TRACE is `strace -f -y -e trace=openat,write,pwrite64,
ftruncate,fsync,fdatasync,rename,renameat,renameat2,link,linkat,unlink,
unlinkat` of it.  OUT is written as POST with every change the command did
not make durable taken back (POSIX allows each of these after a crash):

- a file's new content survives only if the file was fsync'ed after its
  last write (content moved by rename counts as written where it was);
- a directory entry made or removed (create, rename, link, unlink) survives
  only if its directory was fsync'ed after that operation;
- otherwise the path is as it was in PRE (its old content, or absent).

Prints one line per path taken back ("dropped PATH (reason)"), so a test
can see what the crash state lost.  The tree's paths in TRACE are
absolute and must start with the tree's path as the command saw it, given
by the environment variable CRASH_ROOT (default: POST)."""
import os
import re
import shutil
import sys

pre, post, trace, out = sys.argv[1:5]
root = os.environ.get("CRASH_ROOT", post).rstrip("/")

line_re = re.compile(r"^(?:\[pid\s+\d+\]\s+|\d+\s+)?(\w+)\((.*)\)\s+=\s+(-?\d+)")
fdpath_re = re.compile(r"^-?\d+<([^>]*)>")
str_re = re.compile(r'"((?:[^"\\]|\\.)*)"')

last_write = {}   # path -> op index of its last write (content)
last_sync = {}    # path -> op index of its last fsync
ns_op = {}        # path -> op index of its last directory-entry change
dir_sync = {}     # directory -> list of fsync op indexes


def files(top):
    found = set()
    for d, _, fs in os.walk(top):
        for name in fs:
            found.add(os.path.relpath(os.path.join(d, name), top))
    return found


before, after = files(pre), files(post)
existed = set(root + "/" + r for r in before)

with open(trace, errors="replace") as f:
    for i, line in enumerate(f):
        m = line_re.match(line)
        if not m or m.group(3).startswith("-"):
            continue
        call, args = m.group(1), m.group(2)
        strs = str_re.findall(args)
        fdp = fdpath_re.match(args)
        if call in ("write", "pwrite64", "ftruncate") and fdp:
            last_write[fdp.group(1)] = i
        elif call in ("fsync", "fdatasync") and fdp:
            p = fdp.group(1)
            last_sync[p] = i
            dir_sync.setdefault(p, []).append(i)
        elif call == "openat" and "O_CREAT" in args and strs:
            if strs[0] not in existed:
                ns_op.setdefault(strs[0], i)  # a new directory entry
        elif call in ("rename", "renameat", "renameat2", "link", "linkat") and len(strs) >= 2:
            src, dst = strs[0], strs[1]
            # dst now holds src's content: durable as src's was
            if src in last_write:
                last_write[dst] = last_write[src]
            if src in last_sync:
                last_sync[dst] = last_sync[src]
            ns_op[dst] = i
            if not call.startswith("link"):
                ns_op[src] = i
        elif call in ("unlink", "unlinkat") and strs:
            ns_op[strs[-1] if call == "unlink" else strs[0]] = i


def same(a, b):
    with open(a, "rb") as x, open(b, "rb") as y:
        return x.read() == y.read()


def synced_after(directory, i):
    return any(s > i for s in dir_sync.get(directory, []))


if os.path.exists(out):
    shutil.rmtree(out)
shutil.copytree(post, out, symlinks=True)
for r in sorted(before | after):
    full = root + "/" + r
    reason = None
    if r in after and r in before and same(os.path.join(pre, r), os.path.join(post, r)) and full not in ns_op:
        continue
    if full in ns_op and not synced_after(os.path.dirname(full), ns_op[full]):
        reason = "directory entry not synced"
    elif r in after and full in last_write and last_sync.get(full, -1) < last_write[full]:
        reason = "content not synced"
    elif r in after and r in before and full not in last_write and full not in ns_op and \
            not same(os.path.join(pre, r), os.path.join(post, r)):
        reason = "changed without a write seen"
    if reason is None:
        continue
    target = os.path.join(out, r)
    if os.path.lexists(target):
        os.unlink(target)
    if r in before:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(pre, r), target)
    print("dropped %s (%s)" % (r, reason))
