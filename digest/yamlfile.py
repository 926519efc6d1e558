"""YAML files that people edit: safe loading that remembers where each value was.

Errors found later (an unknown article id, a bad segment rule) can then name
the file and the line, as an editor needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from digest.errors import InputError

YamlPath = tuple[str | int, ...]


class NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader without aliases (``*name``) and without deep nesting.

    Hand-written settings never need them, and they are the one way a small
    file becomes huge or endless: a few nested aliases expand to millions of
    values, and an alias to its own anchor is a loop.
    """

    # Nesting deeper than this is no hand-written file; PyYAML's composer recurses once per level,
    # so thousands of levels would end in a RecursionError instead of an error naming the line.
    MAX_DEPTH = 100

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.get_event()
            raise yaml.composer.ComposerError(
                None,
                None,
                f"aliases (*{event.anchor}) are not allowed here; write the value out in full",
                event.start_mark,
            )
        depth = getattr(self, "_depth", 0)
        if depth >= self.MAX_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"nested more than {self.MAX_DEPTH} levels deep", self.peek_event().start_mark
            )
        self._depth = depth + 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth = depth


def safe_load(text: str) -> Any:
    """Plain data from YAML text: the safe loader, without aliases."""
    return yaml.load(text, Loader=NoAliasLoader)  # noqa: S506 - NoAliasLoader is a SafeLoader


@dataclass(frozen=True)
class YamlDocument:
    """Plain data from a YAML file, with the line of every key and list item."""

    data: Any
    lines: dict[YamlPath, int]
    origin: str

    def line(self, *path: str | int) -> int | None:
        """The line of ``path``, or of its nearest parent that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None

    def error(self, reason: str, *path: str | int) -> InputError:
        return InputError(reason, path=self.origin, line=self.line(*path))


def load_yaml(text: str, origin: str | Path) -> YamlDocument:
    """Parse one YAML document safely; bad syntax and duplicate keys name their line."""
    origin = str(origin)
    try:
        node = yaml.compose(text, Loader=NoAliasLoader)
        data = safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"not valid YAML: {problem}", path=origin, line=mark.line + 1 if mark else None) from None
    lines: dict[YamlPath, int] = {}
    if node is not None:
        _collect(node, (), lines, origin)
    return YamlDocument(data=data, lines=lines, origin=origin)


def read_yaml(path: Path) -> YamlDocument:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text; save it as UTF-8", path=path) from None
    return load_yaml(text, path)


def _collect(node: yaml.Node, path: YamlPath, lines: dict[YamlPath, int], origin: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                raise InputError(f"{key!r} appears twice (first on line {seen[key]})", path=origin, line=line)
            seen[key] = line
            lines[(*path, key)] = line
            _collect(value_node, (*path, key), lines, origin)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _collect(item, (*path, index), lines, origin)
