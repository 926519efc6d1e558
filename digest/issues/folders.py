"""Folders digest makes and may replace: never one it did not make.

A command that writes a whole folder (the preview, the demo's project) builds
it beside the old one, swaps it in and deletes the old one. Deleting is only
safe for a folder digest made itself, so each such folder carries a marker
file naming what made it, and :func:`check_replaceable` refuses everything
else: the project's folder, its parents, the home and current folders, the
project's own folders (issues, outbox, templates…), any folder holding
``digest.toml``, ``digest.db``, ``.env`` or ``.git``, and any folder holding
files without the marker. An empty folder holds nothing to lose.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from digest.config import CONFIG_NAME, Settings
from digest.errors import InputError

MARKER_PREFIX = ".digest-"
# What marks another project, or something nobody would want swapped for generated files.
PROJECT_FILES = (CONFIG_NAME, "digest.db", ".env", ".git")


@dataclass(frozen=True)
class FolderKind:
    """A kind of folder digest makes: its marker, the command and option that name it, and how to
    recognise one made before markers existed."""

    name: str
    command: str
    option: str
    made_before_markers: Callable[[Path, Settings | None], bool] = lambda _folder, _settings: False
    holds_a_project: bool = False  # the demo's folder is a project of its own

    @property
    def marker(self) -> str:
        return MARKER_PREFIX + self.name


PREVIEW_FILES = frozenset({"index.html", "email.html", "email.txt", "email.eml", "archive", "segments"})


def _old_preview(folder: Path, settings: Settings | None) -> bool:
    """A preview written before markers: only a preview's files, in the folder previews go to by default."""
    if settings is None or folder.parent != settings.preview_dir.resolve():
        return False
    return all(entry.name in PREVIEW_FILES or entry.name.endswith(".png") for entry in folder.iterdir())


def _old_demo(folder: Path, _settings: Settings | None) -> bool:
    """A demo project made before markers: its settings are examples/demo.toml, which opens with this line."""
    settings_file = folder / CONFIG_NAME
    return settings_file.is_file() and settings_file.read_text(encoding="utf-8", errors="replace").startswith(
        "# Settings of the demo project that `make demo` builds"
    )


PREVIEW = FolderKind("preview", "digest preview", "--out", made_before_markers=_old_preview)
DEMO = FolderKind("demo", "make demo", "DEMO_DIR", made_before_markers=_old_demo, holds_a_project=True)


def check_replaceable(folder: Path, kind: FolderKind, settings: Settings | None = None) -> None:
    """Raise InputError, saying why, unless ``folder`` may be deleted and replaced by a ``kind`` folder."""
    target = Path(folder).expanduser().resolve()
    if target.exists() and not target.is_dir():
        raise InputError("exists and is not a folder", path=target)
    reason = _protected(target, settings) or (_not_ours(target, kind, settings) if target.exists() else None)
    if reason is not None:
        raise InputError(
            f"refusing to replace this folder with a {kind.name}: {reason}; give {kind.option} a new or empty folder",
            path=target,
        )


def _protected(target: Path, settings: Settings | None) -> str | None:
    """Why ``target`` is a folder no command may replace, or None."""
    named: list[tuple[Path, str]] = [(Path.home(), "your home folder"), (Path.cwd(), "the current folder")]
    if settings is not None:
        named = [
            (settings.project_dir, "the project's own folder (it holds digest.toml)"),
            *named,
            (settings.issues_dir, "the project's issues folder"),
            (settings.outbox_dir, "the project's outbox folder"),
            (settings.preview_dir, "the folder that holds every preview"),
            (settings.segments_file.parent, "the folder of the project's segment rules"),
            *((folder, "a folder of the project's templates") for folder in settings.template_dirs),
        ]
    for folder, what in named:
        place = folder.expanduser().resolve()
        if target == place:
            return f"it is {what}"
        if target in place.parents:
            return f"it holds {what.split(' (')[0]}"
    return None


def _not_ours(target: Path, kind: FolderKind, settings: Settings | None) -> str | None:
    """Why the existing folder ``target`` is not one ``kind`` made, or None."""
    held = [name for name in PROJECT_FILES if (target / name).exists()]
    if held and not kind.holds_a_project:
        return f"it holds {held[0]}"
    if (target / kind.marker).is_file() or not any(target.iterdir()):
        return None
    if kind.made_before_markers(target, settings):
        return None
    return f"it holds files and was not made by `{kind.command}` (no {kind.marker} marker in it)"


def replace_folder(folder: Path, files: Mapping[str, bytes], kind: FolderKind, settings: Settings | None) -> None:
    """Write ``files`` (relative name → bytes) into a fresh, marked folder beside ``folder``, then swap it in.

    Refused (nothing written or deleted) unless :func:`check_replaceable` allows ``folder``.
    """
    folder = Path(folder).expanduser().resolve()
    check_replaceable(folder, kind, settings)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        for name, data in {**files, kind.marker: _marker_text(kind)}.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        old = None
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old-{staging.name[-8:]}")
            folder.rename(old)
        staging.rename(folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def clear_folder(folder: Path, kind: FolderKind) -> Path:
    """Delete ``folder`` if it is a ``kind`` folder (or empty), then make it afresh, marked; returns it."""
    target = Path(folder).expanduser().resolve()
    check_replaceable(target, kind)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    (target / kind.marker).write_bytes(_marker_text(kind))
    return target


def _marker_text(kind: FolderKind) -> bytes:
    return (
        f"Made by `{kind.command}`, which replaces this whole folder when it runs again.\n"
        "Keep nothing of your own here.\n"
    ).encode()
