"""What ``hookline test`` prints: a line per case, a diff per failure, a summary line;
or one JSON document; and JUnit XML for CI systems."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from .._display import json_safe, shown_line
from .._display import shown as shown_text
from ._assert import Mismatch

# Lone surrogates (from a YAML "\ud800" escape): no UTF-8 output can encode them, and XML
# 1.0 forbids them. Everything else unsafe to show is ``_display``'s.
_SURROGATES = {c: f"\\u{c:04x}" for c in range(0xD800, 0xE000)}


def shown(text: str) -> str:
    """``text`` for a terminal, on one line: control characters, line separators and bidi
    controls escaped (``\\x1b``, ``\\u202e``), line breaks too."""
    return shown_line(text).translate(_SURROGATES)


def xml_text(text: str) -> str:
    """``text`` as XML 1.0 may hold it (and a CI page may show it): escaped as in text
    output, line breaks kept."""
    return shown_text(text).translate(_SURROGATES)


@dataclass
class CaseReport:
    file: str
    name: str
    seconds: float
    mismatches: list[Mismatch] = field(default_factory=list)
    log: str = ""
    notes: list[str] = field(default_factory=list)  # answers no request took

    @property
    def passed(self) -> bool:
        return not self.mismatches

    def detail(self) -> list[str]:
        lines: list[str] = []
        for m in self.mismatches:
            head = f"{m.where}: {m.message}" if m.message else f"{m.where}:"
            # Split at line feeds only: splitlines() would also break at \x1c, U+2028...
            lines += head.split("\n")
            lines += [f"  {line}" for line in m.lines]
        return lines


def text_line(report: CaseReport) -> str:
    word = "PASS" if report.passed else "FAIL"
    return shown(f"{word}  {report.file}: {report.name} ({report.seconds:.2f}s)")


def write_text(out: TextIO, report: CaseReport, *, verbose: bool = False) -> None:
    out.write(text_line(report) + "\n")
    for line in report.detail():
        out.write(f"      {shown(line)}\n")
    for note in report.notes:
        out.write(f"      note: {shown(note)}\n")
    if verbose and report.log:
        out.write("      log:\n")
        for line in report.log.rstrip("\n").split("\n"):
            out.write(f"        {shown(line)}\n")


def summary(reports: list[CaseReport], invalid: int, seconds: float) -> str:
    failed = sum(1 for r in reports if not r.passed)
    parts = [f"{len(reports) - failed} passed"]
    if failed:
        parts.append(f"{failed} failed")
    if invalid:
        parts.append(f"{invalid} invalid file{'s' if invalid != 1 else ''}")
    count = f"{len(reports)} case{'s' if len(reports) != 1 else ''}"
    return f"{count}: {', '.join(parts)} ({seconds:.2f}s)"


def as_json(reports: list[CaseReport], problems: list[str], seconds: float) -> str:
    doc = {
        "passed": sum(1 for r in reports if r.passed),
        "failed": sum(1 for r in reports if not r.passed),
        "seconds": round(seconds, 3),
        "problems": problems,
        "cases": [
            {
                "file": r.file,
                "name": r.name,
                "status": "passed" if r.passed else "failed",
                "seconds": round(r.seconds, 3),
                "notes": r.notes,
                "failures": [
                    {"where": m.where, "message": m.message, "diff": m.lines} for m in r.mismatches
                ],
            }
            for r in reports
        ],
    }
    # JSON escapes C0 controls itself; the others are escaped too (\u009b, \u202e), which
    # reads back the same, so that the document is safe to print as well as to parse.
    return json_safe(json.dumps(doc, indent=2, ensure_ascii=False)).translate(_SURROGATES) + "\n"


def write_junit(path: Path, reports: list[CaseReport], problems: list[str]) -> None:
    """One ``testsuite`` per test file; an invalid file is a suite with one error."""
    root = ET.Element("testsuites", name="hookline test")
    files: dict[str, list[CaseReport]] = {}
    for r in reports:
        files.setdefault(r.file, []).append(r)
    for file, cases in files.items():
        failures = sum(1 for c in cases if not c.passed)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=xml_text(file),
            tests=str(len(cases)),
            failures=str(failures),
            errors="0",
            time=f"{sum(c.seconds for c in cases):.3f}",
        )
        for c in cases:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=xml_text(file),
                name=xml_text(c.name),
                time=f"{c.seconds:.3f}",
            )
            if not c.passed:
                first = c.mismatches[0]
                message = f"{first.where}: {first.message}".rstrip(": ")
                failure = ET.SubElement(case, "failure", message=xml_text(message.split("\n")[0]))
                failure.text = xml_text("\n".join(c.detail()))
    if problems:
        suite = ET.SubElement(
            root,
            "testsuite",
            name="invalid test files",
            tests=str(len(problems)),
            failures="0",
            errors=str(len(problems)),
        )
        for n, problem in enumerate(problems):
            case = ET.SubElement(suite, "testcase", classname="hookline", name=f"problem {n + 1}")
            ET.SubElement(case, "error", message=xml_text(problem)).text = xml_text(problem)
    ET.indent(root)
    path.write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n")
