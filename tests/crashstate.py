#!/usr/bin/env python3
"""crashstate.py PRE POST TRACE OUT: the state of a directory tree after a
power cut at the end of a command (or where it was killed), built from the
command's own operations.

PRE and POST are copies of the tree (e.g. a store) taken before and after
the command ran; TRACE is `strace -f -y -s 65536 -x -e trace=openat,write,
pwrite64,ftruncate,fsync,fdatasync,syncfs,rename,renameat,renameat2,link,
linkat,unlink,unlinkat` of it.  OUT is written as the tree a power cut
could leave, the worst case POSIX allows for each name:

- a directory entry made or removed (create, rename, link, unlink) holds
  only if its directory was fsync'ed (or its file system syncfs'ed) after
  the operation; otherwise the name is as its last durable operation left
  it (as in PRE when there was none): a rename not yet durable leaves the
  source name in place, with the file it named then;
- a file's new content survives only if the file was fsync'ed after its
  last write (content moved by rename or link goes with the file);
  otherwise a name for it that existed before holds its old content and a
  name made by the command is taken back;
- a file is followed through renames, links and unlinks (inode by inode),
  so content renamed away or removed by the command can still be what a
  durable name holds: it comes from POST where the file ended up, else
  from the bytes the trace shows written to it (hence -s 65536 -x).

With CRASH_UNLINKS=kept, an unlink counts as durable even without a sync
of its directory: the other worst case, where a removal reached the disk
and the operations before it that were not synced did not (a rename into
place undone while the intent that would redo it is gone).

Prints one line per path that differs from POST ("dropped PATH (reason)",
"restored PATH (reason)"), so a test can see what the crash state lost.
The tree's paths in TRACE are absolute and must start with the tree's
path as the command saw it, given by the environment variable CRASH_ROOT
(default: POST)."""
import os
import re
import shutil
import sys

pre, post, trace, out = sys.argv[1:5]
root = os.environ.get("CRASH_ROOT", post).rstrip("/")
unlinks_kept = os.environ.get("CRASH_UNLINKS") == "kept"

line_re = re.compile(r"^(?:\[pid\s+\d+\]\s+|\d+\s+)?(\w+)\((.*)\)\s+=\s+(-?\d+)")
fdpath_re = re.compile(r"^-?\d+<([^>]*)>")
str_re = re.compile(r'"((?:[^"\\]|\\.)*)"(\.\.\.)?')


def files(top):
    found = set()
    for d, _, fs in os.walk(top):
        for name in fs:
            found.add(os.path.relpath(os.path.join(d, name), top))
    return found


def unescape(s):
    """strace's quoted string (with -x a binary string is all \\xNN) as bytes."""
    return bytes(s.encode("latin-1").decode("unicode_escape"), "latin-1")


def read(top, r):
    with open(os.path.join(top, r), "rb") as x:
        return x.read()


def rel(path):
    return path[len(root) + 1:] if path.startswith(root + "/") else None


before, after = files(pre), files(post)
cur = {}          # absolute path -> inode id, as the command saw the tree
for r in before:
    cur[root + "/" + r] = ("pre", r)
events = {}       # absolute path -> [(op index, inode id or None)]
last_write = {}   # inode -> op index of its last content change
last_sync = {}    # inode -> op index of its last fsync
data = {}         # inode -> bytearray written (new files), None when unknown
dir_sync = {}     # directory -> [op indexes of its fsyncs]
fs_sync = []      # op indexes of syncfs calls
fd_ino = {}       # fd path as strace shows it -> inode (files opened by the command)
new_ids = 0


def ino_of(path):
    global new_ids
    if path not in cur:
        new_ids += 1
        cur[path] = ("new", new_ids)
        data[cur[path]] = bytearray()
    return cur[path]


def joined(f):
    """The trace's lines, a call cut in two by another thread's (strace -f: "<unfinished ...>", then
    "<... fsync resumed>") made whole again, at the place where it returned."""
    pending = {}
    for line in f:
        m = re.match(r"^(?:\[pid\s+)?(\d+)\]?\s+(.*) <unfinished \.\.\.>$", line.rstrip("\n"))
        if m:
            pending[m.group(1)] = m.group(2)
            continue
        m = re.match(r"^(?:\[pid\s+)?(\d+)\]?\s+<\.\.\. \w+ resumed>(.*)$", line.rstrip("\n"))
        if m and m.group(1) in pending:
            yield "%s %s%s\n" % (m.group(1), pending.pop(m.group(1)), m.group(2))
            continue
        yield line


with open(trace, errors="replace") as f:
    for i, line in enumerate(joined(f)):
        m = line_re.match(line)
        if not m or m.group(3).startswith("-"):
            continue
        call, args = m.group(1), m.group(2)
        strs = str_re.findall(args)
        fdp = fdpath_re.match(args)
        if call == "openat" and strs:
            path = strs[0][0] if strs[0][0].startswith("/") else None
            res = re.search(r"=\s+\d+<([^>]*)>", line)
            if res:
                path = res.group(1)
            if path is None:
                continue
            if "O_CREAT" in args and path not in cur:
                ino = ino_of(path)
                events.setdefault(path, []).append((i, ino))
            if "O_TRUNC" in args and path in cur:
                ino = cur[path]
                last_write[ino] = i
                if ino in data:
                    data[ino] = bytearray()
                else:
                    data[ino] = bytearray()  # a file of PRE cut to nothing, then written
        elif call in ("write", "pwrite64", "ftruncate") and fdp:
            p = fdp.group(1)
            ino = cur.get(p)
            if ino is None:
                continue
            last_write[ino] = i
            if call == "ftruncate":
                n = int(args.rsplit(",", 1)[1])
                if data.get(ino) is not None:
                    data[ino] = data[ino][:n] + bytearray(max(0, n - len(data[ino])))
            elif call == "write" and strs and data.get(ino) is not None:
                s, cut = strs[0]
                data[ino] = None if cut else data[ino] + unescape(s)
            else:
                data[ino] = None  # offsets not followed: only POST can say
        elif call in ("fsync", "fdatasync") and fdp:
            p = fdp.group(1)
            dir_sync.setdefault(p, []).append(i)
            if p in cur:
                last_sync[cur[p]] = i
        elif call == "syncfs":
            fs_sync.append(i)
        elif call in ("rename", "renameat", "renameat2", "link", "linkat") and len(strs) >= 2:
            src, dst = strs[0][0], strs[1][0]
            ino = cur.get(src)
            if ino is None:
                continue
            cur[dst] = ino
            events.setdefault(dst, []).append((i, ino))
            if not call.startswith("link"):
                del cur[src]
                events.setdefault(src, []).append((i, None))
        elif call in ("unlink", "unlinkat") and strs:
            p = strs[-1][0] if call == "unlink" else strs[0][0]
            if p in cur:
                del cur[p]
            events.setdefault(p, []).append((i, None, "unlink"))

# Where each inode ended up (for its content in POST).
final_path = {}
for p, ino in cur.items():
    r = rel(p)
    if r is not None and r in after:
        final_path.setdefault(ino, r)


def synced_after(directory, i):
    return any(s > i for s in dir_sync.get(directory, [])) or any(s > i for s in fs_sync)


def content_synced(ino):
    w = last_write.get(ino, -1)
    return w < 0 or last_sync.get(ino, -1) > w or any(s > w for s in fs_sync)


def content(ino):
    """The bytes a durable name for ino holds, or None when the content is not durable or unknown."""
    if not content_synced(ino):
        return None
    if ino[0] == "pre" and ino not in last_write:
        return read(pre, ino[1])  # changed in POST without a write the trace shows: not durable
    if ino in final_path:
        with open(os.path.join(post, final_path[ino]), "rb") as x:
            return x.read()
    return bytes(data[ino]) if data.get(ino) is not None else None


if os.path.exists(out):
    shutil.rmtree(out)
shutil.copytree(post, out, symlinks=True)
paths = set(before) | set(after) | set(r for r in (rel(p) for p in events) if r is not None)
for r in sorted(paths):
    full = root + "/" + r
    evs = events.get(full, [])
    durable = [e for e in evs if synced_after(os.path.dirname(full), e[0]) or (unlinks_kept and e[2:] == ("unlink",))]
    reason = None
    if durable:
        ino = durable[-1][1]
        if len(durable) < len(evs):
            reason = "directory entry not synced"
    else:
        ino = ("pre", r) if r in before else None
        if evs:
            reason = "directory entry not synced"
    want = None
    if ino is not None:
        want = content(ino)
        if want is None and r in before:
            want = read(pre, r)  # the name existed before: its old content
            reason = reason or "content not synced"
        elif want is None:
            reason = "content not synced" if not content_synced(ino) else "content unknown"
    have = read(post, r) if r in after else None
    if want == have:
        continue
    target = os.path.join(out, r)
    if os.path.lexists(target):
        os.unlink(target)
    if want is not None:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as x:
            x.write(want)
        like = os.path.join(post, final_path[ino]) if ino in final_path else \
            os.path.join(pre, r) if r in before else None
        if like is not None:
            shutil.copymode(like, target)
        else:
            os.chmod(target, 0o600)
    print("%s %s (%s)" % ("dropped" if have is not None else "restored", r,
                          reason or "changed without a write seen"))
