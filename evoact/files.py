"""Files written whole: an export, a report or a plot replaces what was there only once it is complete on disk."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path


def write_file(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` through a temporary file beside it, synced, then renamed over it:
    a crash or Ctrl-C while writing leaves the earlier file as it was, never a truncated one. Otherwise as
    ``open(path, "w")``: a file it may not write is a ``PermissionError`` naming ``path``, and one written over keeps
    its mode."""
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.parent / f".evoact-{secrets.token_hex(6)}.tmp"  # short: any name ``open`` takes, this one beside it
    try:
        old = path.stat() if path.exists() else None
        if old is not None and not os.access(path, os.W_OK):
            raise PermissionError(13, os.strerror(13))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for open()
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(raw)
                fh.flush()
                os.fsync(fh.fileno())
            if old is not None:
                os.chmod(tmp, stat.S_IMODE(old.st_mode))
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:  # named after the file asked for, not the temporary one
        raise type(exc)(exc.errno, exc.strerror, str(path)) from None
    return path
