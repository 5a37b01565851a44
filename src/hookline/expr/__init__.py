"""Expressions (JMESPath in ``${{ }}``) and templates: compiled once, evaluated per run."""

from __future__ import annotations

from ._functions import OPTIONS
from ._template import (
    Expression,
    ExpressionError,
    Template,
    TemplateSyntaxError,
    as_text,
    compile_expression,
    compile_string,
    compile_value,
    strip_wrapper,
)

__all__ = [
    "OPTIONS",
    "Expression",
    "ExpressionError",
    "Template",
    "TemplateSyntaxError",
    "as_text",
    "compile_expression",
    "compile_string",
    "compile_value",
    "strip_wrapper",
]
