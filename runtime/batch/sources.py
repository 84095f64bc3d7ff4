"""The images a folder job reads: files, directories, glob patterns and @LIST files, expanded to one list of paths.

A name on the command line must exist (a typo is a bad input, not a failed image); the paths a list file
holds are taken as they are, so that one missing frame among a million becomes an error record, not the end
of the job. Paths keep the spelling they were given (or found by), since they are the records' keys.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

# The suffixes a directory's or pattern's image files are found by (Pillow reads them all).
IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
)
_GLOB_CHARACTERS = frozenset("*?[")


def is_image_name(path: str) -> bool:
    """True when the file name ends in one of IMAGE_SUFFIXES (any case)."""
    return os.path.splitext(path)[1].lower() in IMAGE_SUFFIXES


def expand_sources(sources: Sequence[str | os.PathLike], *, recursive: bool = False) -> list[str]:
    """Every image path that `sources` names, in order, each once.

    A source is an image file (any name), a directory (its image files, sorted; with `recursive`, those of
    its subfolders too), a glob pattern (its matching image files, sorted; `**` spans folders with
    `recursive`) or `@LIST`, a text file of paths, one per line (blank lines skipped). FileNotFoundError names a
    missing file or list file, ValueError a folder or pattern without images.
    """
    paths: dict[str, None] = {}  # ordered and unique
    for source in sources:
        for path in _expand(os.fspath(source), recursive):
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


def _expand(source: str, recursive: bool) -> Iterable[str]:
    listed = _list_file(source)
    if listed is not None:
        return read_list(listed)
    if os.path.isdir(source):
        return _directory_images(source, recursive)
    if os.path.exists(source):
        return [source]
    if _GLOB_CHARACTERS.intersection(source):
        matches = sorted(p for p in glob.glob(source, recursive=recursive) if os.path.isfile(p) and is_image_name(p))
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


def _directory_images(folder: str, recursive: bool) -> list[str]:
    if recursive:
        found = (os.path.join(root, name) for root, _, names in os.walk(folder) for name in names)
    else:
        found = (entry.path for entry in os.scandir(folder) if entry.is_file())
    images = sorted(p for p in found if is_image_name(p))
    if not images:
        hint = "" if recursive else "; its subfolders are read only when recursive"
        raise ValueError(f"the folder {folder!r} holds no image file ({_suffixes()}){hint}")
    return images


def _suffixes() -> str:
    return " ".join(sorted(IMAGE_SUFFIXES))
