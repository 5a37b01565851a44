"""The checks of SOAP connections and steps against their WSDL, made while the plan is
built (``hookline check`` and every run): the WSDL can be read, ``service`` and ``port``
exist, the step's ``operation`` exists on the port, and ``args`` names what the
operation takes, with every required argument. Each problem is located in the file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import StepFailed
from ._soap_wsdl import NeedsNetwork, PortInfo, WsdlError, pick_port, ports

if TYPE_CHECKING:
    from .._plan import Builder
    from ._common import ConnectionSettings

STEP_KEYS = frozenset({"connection", "operation", "args"})  # the keys of STEP_SCHEMA


def read_wsdl(
    builder: Builder,
    path: tuple[Any, ...],
    source: str,
    online: tuple[ConnectionSettings, float] | None,
) -> dict[str, dict[str, PortInfo]] | None:
    """What the WSDL declares (service → port → operations), or None (reported)."""
    from ._soap_wsdl import load

    written = str(builder.get(path))
    if online is None and not Path(source).is_file():
        builder.error(
            path, f"WSDL file {written!r} not found (paths are relative to the pipeline file)"
        )
        return None
    try:
        if online is None:
            document = load(source)
        else:
            from ._soap_online import fetch_for_check

            document = fetch_for_check(source, *online)
    except NeedsNetwork:
        return None  # a local WSDL importing XSDs by URL: checked when a run fetches them
    except (WsdlError, StepFailed) as exc:
        reason = exc.reason if isinstance(exc, StepFailed) else str(exc)
        builder.error(path, f"cannot read WSDL {written!r}: {reason}")
        return None
    return ports(document)


def chosen_port(
    builder: Builder,
    path: tuple[Any, ...],
    raw: dict[str, Any],
    declared: dict[str, dict[str, PortInfo]] | None,
) -> PortInfo | None:
    """The port the connection binds to; a wrong `service` or `port` is reported."""
    from .._plan import did_you_mean

    if declared is None:
        return None
    service, port = raw.get("service"), raw.get("port")
    if isinstance(service, str) and service not in declared:
        names = sorted(declared)
        builder.error(
            (*path, "service"),
            f"the WSDL has no service '{service}'{did_you_mean(service, names)} "
            f"(it has: {', '.join(names)})",
        )
        return None
    if isinstance(port, str):
        within = (
            declared[service]
            if isinstance(service, str)
            else {name: info for found in declared.values() for name, info in found.items()}
        )
        if port not in within:
            names = sorted(within)
            where = f"service '{service}'" if isinstance(service, str) else "WSDL"
            builder.error(
                (*path, "port"),
                f"the {where} has no port '{port}'{did_you_mean(port, names)} "
                f"(it has: {', '.join(names)})",
            )
            return None
    chosen = pick_port(declared, service, port)
    return declared[chosen[0]][chosen[1]] if chosen else None


def check_call(
    builder: Builder,
    path: tuple[Any, ...],
    raw: dict[str, Any],
    connection: str | None,
    port: PortInfo,
    operation: str,
) -> None:
    from .._plan import did_you_mean

    operations = sorted(port.operations)
    if operation not in port.operations:
        builder.error(
            (*path, "operation"),
            f"the WSDL of connection '{connection}' has no operation '{operation}'"
            f"{did_you_mean(operation, operations)} (it has: {', '.join(operations)})",
        )
        return
    expected = port.operations[operation]
    args = raw.get("args", {})
    if expected is None or not isinstance(args, dict):
        return  # arguments zeep cannot name, or args given by one expression
    names = [a.name for a in expected]
    takes = ", ".join(names) or "no arguments"
    for key in args:
        if key not in names:
            builder.error(
                (*path, "args", key),
                f"operation '{operation}' has no argument '{key}'{did_you_mean(str(key), names)}"
                f" (it takes: {takes})",
                at_key=True,
            )
    missing = [a.name for a in expected if a.required and a.name not in args]
    if missing and set(raw) <= STEP_KEYS:  # else 'arguments:' for 'args:' is reported
        where = (*path, "args") if "args" in raw else (*path, "operation")
        builder.error(
            where,
            f"operation '{operation}' needs argument{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)} (required by the WSDL)",
            at_key="args" in raw,
        )
