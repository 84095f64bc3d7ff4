"""The images a folder job reads: files, directories, glob patterns and @LIST files, expanded to one list of paths.

A name on the command line must exist (a typo is a bad input, not a failed image); the paths a list file
holds are taken as they are, so that one missing frame among a million becomes an error record, not the end
of the job. Paths keep the spelling they were given (or found by), since they are the records' keys.

Folders are walked as `os.walk` walks them and `**` spans folders as bash's globstar does: a symlinked
folder found inside is not descended into, so a link loop (`ln -s . photos/self`) is read once, not until
the path is too long. A subfolder that cannot be listed is an `OSError` for `onerror` (raised without one),
never skipped in silence.
"""

from __future__ import annotations

import errno
import fnmatch
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

# The suffixes a directory's or pattern's image files are found by (Pillow reads them all).
IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
)
_GLOB_CHARACTERS = frozenset("*?[")
_NOTHING_THERE = (errno.ENOENT, errno.ENOTDIR)  # a pattern's folder that is not there: no match, not an error

OnError = Callable[[OSError], None]


def is_image_name(path: str) -> bool:
    """True when the file name ends in one of IMAGE_SUFFIXES (any case)."""
    return os.path.splitext(path)[1].lower() in IMAGE_SUFFIXES


def expand_sources(
    sources: Sequence[str | os.PathLike], *, recursive: bool = False, onerror: OnError | None = None
) -> list[str]:
    """Every image path that `sources` names, in order, each once.

    A source is an image file (any name), a directory (its image files, sorted; with `recursive`, those of
    its subfolders too), a glob pattern (its matching image files, sorted; `**` spans folders with
    `recursive`) or `@LIST`, a text file of paths, one per line (blank lines skipped). FileNotFoundError names a
    missing file or list file, ValueError a folder or pattern without images; a folder named in `sources` that
    cannot be read raises its OSError. A folder found while walking or matching that cannot be listed goes to
    `onerror(exc)` (`exc.filename` names it), which may raise; without `onerror` it is raised.
    """
    reported: set[str] = set()

    def once(exc: OSError) -> None:  # a folder can be met twice: by `**` and by the component after it
        if onerror is None:
            raise exc
        if os.fspath(exc.filename) not in reported:
            reported.add(os.fspath(exc.filename))
            onerror(exc)

    paths: dict[str, None] = {}  # ordered and unique
    for source in sources:
        for path in _expand(os.fspath(source), recursive, once):
            paths.setdefault(path)
    if not paths:
        raise ValueError("no images to read: give image files, folders of images, glob patterns or @LIST files")
    return list(paths)


def list_files(sources: Sequence[str | os.PathLike]) -> list[str]:
    """The list files that the @LIST sources among `sources` name: inputs too, which no output may replace."""
    return [name for name in map(_list_file, map(os.fspath, sources)) if name is not None]


def _list_file(source: str) -> str | None:
    """The list file an @LIST source names; None for other sources (an existing file named @x is an image)."""
    return source[1:] if source.startswith("@") and not os.path.exists(source) else None


def _expand(source: str, recursive: bool, onerror: OnError) -> Iterable[str]:
    listed = _list_file(source)
    if listed is not None:
        return read_list(listed)
    if os.path.isdir(source):
        return _directory_images(source, recursive, onerror)
    if os.path.exists(source):
        return [source]
    if _GLOB_CHARACTERS.intersection(source):
        found = _glob(source, recursive, onerror, folders_only=False)
        matches = sorted(p for p in found if os.path.isfile(p) and is_image_name(p))
        if not matches:
            raise ValueError(f"the pattern {source!r} matches no image file ({_suffixes()})")
        return matches
    raise FileNotFoundError(f"image file not found: {source} (give image files, folders, glob patterns or @LIST files)")


def read_list(list_path: str) -> list[str]:
    """The paths in a list file, one per line, as written (blank lines skipped; relative to the working folder).

    The file is UTF-8 text, with or without a byte-order mark (as Windows editors save it), and may be a pipe:
    `@<(find photos -name '*.jpg')`.
    """
    path = Path(list_path)
    valid = "@LIST names a UTF-8 text file of image paths, one per line"
    if not path.exists():
        raise FileNotFoundError(f"no list file {list_path!r} ({valid})")
    if path.is_dir():
        raise ValueError(f"the list file {list_path!r} is a folder ({valid}; give a folder without @)")
    try:
        with open(path, encoding="utf-8-sig") as handle:
            return [line.rstrip("\r\n") for line in handle if line.strip()]
    except UnicodeDecodeError as exc:
        raise ValueError(f"the list file {list_path!r} is not UTF-8 text (byte {exc.start}; {valid})") from None


def _directory_images(folder: str, recursive: bool, onerror: OnError) -> list[str]:
    if recursive:
        # The folder named itself must be readable (its error is raised); its subfolders go to `onerror`.
        os.scandir(folder).close()
        found = (os.path.join(root, name) for root, _, names in os.walk(folder, onerror=onerror) for name in names)
    else:
        found = (entry.path for entry in os.scandir(folder) if entry.is_file())
    images = sorted(p for p in found if is_image_name(p))
    if not images:
        hint = "" if recursive else "; its subfolders are read only when recursive"
        raise ValueError(f"the folder {folder!r} holds no image file ({_suffixes()}){hint}")
    return images


def _glob(pattern: str, recursive: bool, onerror: OnError, *, folders_only: bool) -> Iterator[str]:
    """`glob.iglob(pattern, recursive=recursive)`, except that `**` neither matches nor descends into symlinked
    folders, and a folder that cannot be listed goes to `onerror` instead of being skipped."""
    folder, name = os.path.split(pattern)
    if not _GLOB_CHARACTERS.intersection(pattern):
        if os.path.lexists(pattern) if name else os.path.isdir(folder):
            yield pattern
        return
    if folder == pattern or not _GLOB_CHARACTERS.intersection(folder):
        folders: Iterable[str] = [folder]
    else:
        folders = _glob(folder, recursive, onerror, folders_only=True)
    for parent in folders:
        if recursive and name == "**":
            names = _walk_names(parent, onerror, folders_only)
        elif _GLOB_CHARACTERS.intersection(name):
            names = _matching_names(parent, name, onerror, folders_only)
        else:
            names = [name] if _exists(os.path.join(parent, name), onerror) else []
        for found in names:
            yield os.path.join(parent, found)


def _exists(path: str, onerror: OnError) -> bool:
    """Whether `path` is there (a link counts); a folder that cannot be searched goes to `onerror`."""
    try:
        os.lstat(path)
    except OSError as exc:
        if exc.errno not in _NOTHING_THERE:
            onerror(OSError(exc.errno, exc.strerror, os.path.dirname(path)))
        return False
    return True


def _entries(folder: str, onerror: OnError, *, hidden: bool = False) -> list[os.DirEntry[str]]:
    """A folder's entries (names starting with a dot only when `hidden`); a folder that is not there has none,
    one that cannot be listed goes to `onerror`."""
    try:
        with os.scandir(folder or os.curdir) as entries:
            return [entry for entry in entries if hidden or not entry.name.startswith(".")]
    except OSError as exc:
        if exc.errno not in _NOTHING_THERE:
            onerror(exc)
        return []


def _matching_names(folder: str, pattern: str, onerror: OnError, folders_only: bool) -> list[str]:
    """The names in `folder` that one pattern component matches (hidden ones only by a pattern with a dot)."""
    entries = _entries(folder, onerror, hidden=pattern.startswith("."))
    return fnmatch.filter([e.name for e in entries if not folders_only or _is_folder(e)], pattern)


def _walk_names(folder: str, onerror: OnError, folders_only: bool) -> Iterator[str]:
    """`**`: "" (the folder itself) and every name below it, relative to it; symlinked folders are neither
    matched nor entered (as bash's globstar), so a link loop ends."""
    yield ""
    pending = [""]
    while pending:
        prefix = pending.pop()
        for entry in _entries(os.path.join(folder, prefix), onerror):
            name = os.path.join(prefix, entry.name)
            real_folder = entry.is_dir(follow_symlinks=False)
            if real_folder or not (folders_only or _is_folder(entry)):
                yield name
            if real_folder:
                pending.append(name)


def _is_folder(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _suffixes() -> str:
    return " ".join(sorted(IMAGE_SUFFIXES))
