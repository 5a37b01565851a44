"""What hookline reads in a GraphQL document before anything runs: syntax, the operation a
step runs, the variables it declares, and the Relay connection a paginated step walks.

Only graphql-core is used here (gql's own parser); gql itself is imported by runs, so a
``hookline check`` stays as fast as parsing needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class Variable:
    name: str
    type: str  # as written: "ID!", "[String!]!"
    required: bool  # non-null without a default: the step must pass it


@dataclass(frozen=True)
class Operation:
    name: str | None
    kind: str  # query | mutation | subscription
    variables: tuple[Variable, ...]
    node: Any  # graphql.OperationDefinitionNode

    def label(self) -> str:
        return f"{self.kind} {self.name}" if self.name else f"the anonymous {self.kind}"


@lru_cache(maxsize=256)  # the same query often stands in many steps and files
def parse_document(query: str) -> tuple[Any, tuple[str, int, int] | None]:
    """The parsed document, or None and why it does not parse: (message, line, column)."""
    from graphql import GraphQLSyntaxError, parse  # only for pipelines with graphql steps

    try:
        return parse(query), None
    except GraphQLSyntaxError as exc:
        loc = exc.locations[0] if exc.locations else None
        line, col = (loc.line, loc.column) if loc else (1, 1)
        reason = exc.message.removeprefix("Syntax Error: ").rstrip(".")
        reason = reason.replace("<EOF>", "the end of the query")
        return None, (f"GraphQL syntax error: {reason}", line, col)
    except RecursionError:  # a document nested past Python's stack
        return None, ("GraphQL syntax error: the query is nested too deeply", 1, 1)


def operations(document: Any) -> list[Operation]:
    from graphql import NonNullTypeNode, OperationDefinitionNode, print_ast

    out = []
    for node in document.definitions:
        if not isinstance(node, OperationDefinitionNode):
            continue
        variables = tuple(
            Variable(
                name=d.variable.name.value,
                type=print_ast(d.type),
                required=isinstance(d.type, NonNullTypeNode) and d.default_value is None,
            )
            for d in node.variable_definitions or ()
        )
        name = node.name.value if node.name else None
        out.append(Operation(name, node.operation.value, variables, node))
    return out


def choose_operation(ops: list[Operation], wanted: str | None) -> Operation | str:
    """The operation a step runs, or why none can be chosen."""
    from .._plan import did_you_mean

    if wanted is not None:
        for op in ops:
            if op.name == wanted:
                return op
        names = [op.name for op in ops if op.name]
        hint = did_you_mean(wanted, names)
        listed = f" (it holds: {', '.join(names)})" if names else ""
        return f"operation_name '{wanted}' is not an operation of the query{hint}{listed}"
    if not ops:
        return "the document holds no operation (only fragments)"
    if len(ops) > 1:
        every = ", ".join(op.name or "(anonymous)" for op in ops)
        return (
            f"the document holds {len(ops)} operations ({every}); "
            "say which one to run with operation_name"
        )
    return ops[0]


def relay_problem(op: Operation, path: tuple[str, ...]) -> str | None:
    """Why the query cannot be paginated at ``path`` (dotted, by alias or field name), or
    None. Selections the query makes through fragments are trusted, not followed."""
    from graphql import FieldNode

    def fields(selection_set: Any) -> tuple[dict[str, Any], bool]:
        found: dict[str, Any] = {}
        opaque = False
        for sel in selection_set.selections if selection_set else ():
            if isinstance(sel, FieldNode):
                found[(sel.alias or sel.name).value] = sel
            else:
                opaque = True  # a fragment may select what we look for
        return found, opaque

    here = op.node.selection_set
    for depth, part in enumerate(path):
        found, opaque = fields(here)
        if part not in found:
            if opaque:
                return None
            where = ".".join(path[:depth]) or "the top of the query"
            choices = ", ".join(found) or "nothing"
            return (
                f"paginate.relay.path '{'.'.join(path)}': the query selects no field "
                f"'{part}' under {where} (it selects: {choices})"
            )
        here = found[part].selection_set
    found, opaque = fields(here)
    if opaque:
        return None
    missing = []
    page_info = found.get("pageInfo")
    page_fields, page_opaque = (
        fields(page_info.selection_set) if page_info is not None else ({}, False)
    )
    lacking = [n for n in ("hasNextPage", "endCursor") if n not in page_fields]
    if lacking and not page_opaque:
        missing.append(f"pageInfo {{ {' '.join(lacking)} }}")
    edges = found.get("edges")
    edge_fields, edges_opaque = fields(edges.selection_set) if edges is not None else ({}, False)
    if edges is None or ("node" not in edge_fields and not edges_opaque):
        missing.append("edges { node { ... } }")
    if missing:
        return (
            f"paginate.relay.path '{'.'.join(path)}': a Relay connection needs "
            f"{' and '.join(missing)} in the query"
        )
    return None


# Rules of graphql-core's ``specified_rules`` that only look at one kind of node, by the
# text that kind of node cannot be written without. A document without that text cannot
# break the rule, so skipping it changes no message; it saves about 40% of a validation
# (each rule is a visitor called at every node). The text test errs on the safe side: a
# "@" in a string or a comment only runs the rules for nothing.
_RULES_NEEDING = {
    "...": ("KnownFragmentNamesRule", "PossibleFragmentSpreadsRule"),
    "fragment": ("UniqueFragmentNamesRule", "NoUnusedFragmentsRule", "NoFragmentCyclesRule"),
    "@": (
        "KnownDirectivesRule",
        "UniqueDirectivesPerLocationRule",
        "DeferStreamDirectiveOnRootField",
        "DeferStreamDirectiveOnValidOperationsRule",
        "DeferStreamDirectiveLabel",
        "StreamDirectiveOnListField",
    ),
    "subscription": ("SingleFieldSubscriptionsRule",),
    "__": ("MaxIntrospectionDepthRule",),
}
# Inline fragments ("... on T") and fragment definitions: either text brings this one in.
_FRAGMENT_TYPES_RULE = "FragmentsOnCompositeTypesRule"

# Validations by (schema, document), kept with both so that their ids stay theirs: real
# repositories check the same query file, against the same SDL file, in many pipelines.
_VALIDATED: dict[tuple[int, int], tuple[Any, Any, list[Any]]] = {}
_MAX_VALIDATED = 1024


def _rules(text: str) -> list[Any]:
    from graphql import specified_rules

    skipped: set[str] = set()
    for needed, names in _RULES_NEEDING.items():
        if needed not in text:
            skipped.update(names)
    if "..." not in text and "fragment" not in text:
        skipped.add(_FRAGMENT_TYPES_RULE)
    return [rule for rule in specified_rules if rule.__name__ not in skipped]


def validation_errors(schema: Any, document: Any) -> list[Any]:
    """graphql-core's ``validate`` (what gql's ``Client.validate`` runs: every problem,
    not the first), without the rules that cannot fire on this document."""
    from graphql import validate

    key = (id(schema), id(document))
    found = _VALIDATED.get(key)
    if found is not None:
        return found[2]
    text = document.loc.source.body if document.loc is not None else None
    rules = _rules(text) if isinstance(text, str) else None
    errors = list(validate(schema, document, rules))
    if len(_VALIDATED) >= _MAX_VALIDATED:
        _VALIDATED.clear()
    _VALIDATED[key] = (schema, document, errors)
    return errors
