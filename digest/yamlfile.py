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
        reason, line = explain_yaml_error(text, exc)
        raise InputError(f"not valid YAML: {reason}", path=origin, line=line) from None
    lines: dict[YamlPath, int] = {}
    if node is not None:
        _collect(node, (), lines, origin)
    return YamlDocument(data=data, lines=lines, origin=origin)


def explain_yaml_error(text: str, exc: yaml.YAMLError) -> tuple[str, int | None]:
    """PyYAML's complaint in an editor's words, with the line where the mistake is.

    The parser notices a mistake where it can no longer go on, which is often
    later than where it was made: an unclosed quote is found at the end of the
    file, or where the next quote closes it. The line returned is where the
    editor must look (the opening quote), and the words say what to do.
    """
    problem = str(getattr(exc, "problem", None) or str(exc).splitlines()[0])
    context = str(getattr(exc, "context", None) or "")
    problem_mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    line = problem_mark.line + 1 if problem_mark else (context_mark.line + 1 if context_mark else None)
    if "quoted scalar" in context and context_mark is not None:
        return (
            f"the quote opened on line {context_mark.line + 1} is never closed; close it on that line",
            context_mark.line + 1,
        )
    if problem == "mapping values are not allowed here":
        return (
            "a colon followed by a space inside a value; put the whole value in double quotes, "
            'e.g. subject: "Ofsted: new guidance"',
            line,
        )
    if "found character '\\t'" in problem:
        return "a tab in the indentation; indent with spaces", line
    if "that cannot start any token" in problem or "undefined alias" in problem:
        char = problem.split("'")[1] if "'" in problem else problem.split()[-1]
        return f"a value cannot start with {char!r}; put the whole value in double quotes", line
    if context.startswith("while parsing a flow"):
        opened = context_mark.line + 1 if context_mark else line
        return (
            f"a value on line {opened} starts with '[' or '{{', which opens a list that never ends; "
            "put the whole value in double quotes",
            opened,
        )
    if "could not find expected ':'" in problem and context_mark is not None:
        return (
            "a line that is not 'name: value'; a value that goes on to the next line must be quoted "
            "or indented under its name",
            context_mark.line + 1,
        )
    if "found '<scalar>'" in problem and problem_mark is not None:
        opened = _quote_closed_early(text, problem_mark.index)
        if opened is not None and opened < problem_mark.line + 1:
            return (
                f"the quote opened on line {opened} is not closed on that line (the next quote, "
                f"on line {problem_mark.line + 1}, closes it); close it on line {opened}",
                opened,
            )
        return (
            "the value's quotes end early: it holds the quote mark it starts with; quote it with the "
            "other kind (\"It's\" or 'say \"no\"'), or write a single quote twice inside single quotes ('It''s')",
            line,
        )
    if problem.startswith("expected <block end>") or "expected key" in problem:
        return "this line's indentation does not match the lines above it; line it up with its neighbours", line
    return problem, line


def _quote_closed_early(text: str, index: int) -> int | None:
    """The line where the last quoted value before ``index`` opened, if there is one."""
    opened = None
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if token.start_mark.index >= index:
                break
            if isinstance(token, yaml.ScalarToken) and token.style in ('"', "'"):
                opened = token.start_mark.line + 1
    except yaml.YAMLError:
        pass
    return opened


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
