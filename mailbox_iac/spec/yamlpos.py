"""YAML to plain data, remembering where every key and item stood.

PyYAML's own loaders forget positions and silently keep the last of two duplicate keys (a lost mailbox
list). This loader composes the node tree, refuses duplicate keys, aliases (billion-laughs bombs) and
absurd nesting, and returns the data together with a `Loc -> (line, column)` map for error messages.

libyaml composes the tree (a tenth of the time of PyYAML's Python composer). It resolves an alias to the
node its anchor names and caps nesting at 1,000 levels itself, so the builder finds an alias as a node met
twice and deep nesting by its path's length, without expanding either. Then, and when libyaml raises,
the file is composed again by the strict Python composer, which refuses it where the problem stands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.cyaml import CParser  # type: ignore[attr-defined]
from yaml.resolver import Resolver

from mailbox_iac.spec.errors import Loc, SpecError, field_name

MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 32


@dataclass
class Document:
    path: str
    data: Any
    positions: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def position(self, loc: Loc) -> tuple[int, int]:
        """Where `loc` stands, or its nearest ancestor that exists (for missing fields)."""
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.positions:
                return self.positions[loc[:end]]
        return (1, 1)

    def error(self, loc: Loc, message: str) -> SpecError:
        line, column = self.position(loc)
        return SpecError(self.path, line, column, field_name(loc), message)


class _StrictComposer(yaml.composer.Composer, CParser, SafeConstructor, Resolver):
    """PyYAML's Python composer over libyaml's parser: refuses an alias or deep nesting at the event itself."""

    def __init__(self, stream: str) -> None:
        CParser.__init__(self, stream)
        yaml.composer.Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._depth = 0

    def _refuse(self, problem: str) -> yaml.composer.ComposerError:
        event: Any = self.peek_event()
        return yaml.composer.ComposerError(None, None, problem, event.start_mark)

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise self._refuse("YAML aliases (*name) are not allowed in specs; use `defaults:` instead")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise self._refuse(f"nesting deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _pos(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


_PLAIN_COLLECTIONS: dict[type[yaml.Node], tuple[str, ...]] = {
    yaml.MappingNode: ("tag:yaml.org,2002:map",),
    yaml.SequenceNode: ("tag:yaml.org,2002:seq",),
}


class _Suspect(Exception):
    """The tree holds an alias or nests too deep: compose it again strictly, for the error's position."""


_STR = "tag:yaml.org,2002:str"


class _Builder:
    def __init__(self, doc: Document, loader: SafeConstructor) -> None:
        self.doc = doc
        self.loader = loader
        self.errors: list[SpecError] = []
        self.seen: set[int] = set()

    def _visit(self, node: yaml.Node, loc: Loc) -> None:
        """A node met twice is an alias (a key's too), a path this long nests too deep."""
        if id(node) in self.seen or len(loc) >= MAX_DEPTH:
            raise _Suspect
        self.seen.add(id(node))

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        self._visit(node, loc)
        self.doc.positions.setdefault(loc, _pos(node))
        if node.tag not in _PLAIN_COLLECTIONS.get(type(node), (node.tag,)):
            # Scalars with a foreign tag fail when constructed; a tagged mapping or list must not pass silently.
            line, column = _pos(node)
            self.errors.append(
                SpecError(self.doc.path, line, column, field_name(loc), f"YAML tag {node.tag!r} is not allowed")
            )
            return None
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    line, column = _pos(key_node)
                    self.errors.append(
                        SpecError(self.doc.path, line, column, field_name(loc), "mapping keys must be plain scalars")
                    )
                    continue
                self._visit(key_node, loc)
                key = self._scalar(key_node, loc)
                if not isinstance(key, (str, int)):
                    key = str(key)
                if key in out:
                    line, column = _pos(key_node)
                    first_line = self.doc.positions[loc + (key,)][0]
                    self.errors.append(
                        SpecError(
                            self.doc.path,
                            line,
                            column,
                            field_name(loc + (key,)),
                            f"duplicate key {key!r} (first defined on line {first_line}); "
                            "YAML would silently keep only the last one",
                        )
                    )
                    continue
                self.doc.positions[loc + (key,)] = _pos(key_node)
                out[key] = self.build(value_node, loc + (key,))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, loc + (i,)) for i, item in enumerate(node.value)]
        return self._scalar(node, loc)

    def _scalar(self, node: yaml.Node, loc: Loc) -> Any:
        """A scalar's value; one YAML reads as a date but the calendar refuses (2026-13-45) is an error here."""
        if node.tag == _STR:
            return node.value
        try:
            return self.loader.construct_object(node)
        except ValueError as exc:
            line, column = _pos(node)
            self.errors.append(
                SpecError(self.doc.path, line, column, field_name(loc), f"{node.value!r} is not a valid date: {exc}")
            )
            return None


def parse_yaml(path: str, text: str) -> tuple[Document, list[SpecError]]:
    """Parse one spec file's text; errors are returned, not raised, so all of them can be shown."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return Document(path=path, data=None), [
            SpecError(path, 1, 1, "", f"file is larger than {MAX_BYTES // (1024 * 1024)} MiB; split the tenant")
        ]
    try:
        try:
            return _build(path, yaml.CSafeLoader(text))
        except (_Suspect, yaml.YAMLError):
            return _build(path, _StrictComposer(text))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return Document(path=path, data=None), [
            SpecError(path, line, column, "", f"YAML error: {exc.problem or exc.context}")
        ]
    except yaml.YAMLError as exc:
        return Document(path=path, data=None), [SpecError(path, 1, 1, "", f"YAML error: {exc}")]


def _build(path: str, loader: yaml.CSafeLoader | _StrictComposer) -> tuple[Document, list[SpecError]]:
    """The document `loader` composes; raises what composing raises, and `_Suspect`."""
    doc = Document(path=path, data=None)
    try:
        node = loader.get_single_node()
        if node is None:
            return doc, [SpecError(path, 1, 1, "", "file is empty")]
        builder = _Builder(doc, loader)
        doc.data = builder.build(node, ())
        return doc, builder.errors
    finally:
        loader.dispose()
