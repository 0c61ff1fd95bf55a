"""docs/ERRORS.md lists every reason the server can send, with its status code, and no other.

The reasons are read from the source with ``ast`` (no import, no server):

* a *carrier* is a callable that puts a reason on a refusal: a ``domain.errors.DomainError`` class
  (its ``reason`` keyword, else its ``default_reason``, which is sent too), an exception class
  whose ``__init__`` takes a ``reason`` (``PrincipalUriError``: its reason reaches a DomainError
  through ``except ... as exc: raise X(..., reason=exc.reason)``, which gives its status code), and
  any function with a ``reason`` parameter that it hands to a carrier (``_reject``, ``_refuse``);
  ``google.rpc.ErrorInfo`` built by hand (UNIMPLEMENTED, INTERNAL) counts too, with the
  ``grpc.StatusCode`` its status was built with just before;
* at every call of a carrier, the argument bound to ``reason`` must be a string literal, a
  module-level UPPER_SNAKE string constant (by name, imported or as ``module.NAME``), a parameter
  named ``reason`` of the enclosing function (the carrier passes it on), or ``<x>.reason`` (a
  reason already raised, passed on). Anything else fails the test: a reason the extraction cannot
  see must not slip through silently.

Constants count only where they reach a carrier, so state names (``ACTIVE``), source kinds
(``HISTORY``) or currencies (``CNY``) never look like reasons. ``FieldViolation`` reasons of the
platform's own rules (``WINDOW_ENDED``) are checked against the doc's field-violation table; those
derived from protovalidate rule ids (``rule_reason(rule_id)``) are one family, described once.

The doc's rows are ``| `REASON` | `CODE` ... |``: the first cell names the reason, the second its
status code(s).
"""

from __future__ import annotations

import ast
import functools
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("application", "domain", "interceptors", "server", "store", "wire", "infra")
ERRORS_DOC = ROOT / "docs" / "ERRORS.md"

REASON = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")
#: The function deriving a field violation's reason from a protovalidate rule id (one family in the doc).
RULE_REASON_FUNCTIONS = {"rule_reason"}
#: The doc's sections holding field-violation reasons and OCPP-only reasons (the rest are ErrorInfo reasons).
FIELD_VIOLATION_HEADING = "Field-violation reasons"
OCPP_HEADING = "OCPP-only reasons"


@dataclass
class Carrier:
    """A callable that puts a reason on a refusal."""

    module: str
    name: str
    positional: list[str]  # positional parameter names, ``self`` left out
    codes: set[str] | None  # status codes; None: known only from the handlers that pass it on
    default: str | None = None  # the reason sent when none is given (DomainError classes)
    violation: bool = False  # FieldViolation: a BadRequest reason, not an ErrorInfo one


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    constants: dict[str, str] = field(default_factory=dict)
    modules: dict[str, str] = field(default_factory=dict)  # alias -> module
    names: dict[str, tuple[str, str]] = field(default_factory=dict)  # alias -> (module, name)
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=dict)


@dataclass
class Found:
    """What the extraction found: reason -> status codes (ErrorInfo), field-violation reasons,
    OCPP-only reason -> CALLERROR codes, problems."""

    codes: dict[str, set[str]]
    violations: set[str]
    ocpp: dict[str, set[str]]
    problems: list[str]


def _modules() -> dict[str, Module]:
    modules: dict[str, Module] = {}
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = Module(name, path, ast.parse(path.read_text(), str(path)))
    for module in modules.values():
        for node in module.tree.body:
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                targets, value = [node.target], node.value
            for target in targets:
                if (
                    isinstance(target, ast.Name)
                    and isinstance(value, ast.Constant)
                    and isinstance(value.value, str)
                ):
                    module.constants[target.id] = value.value
        for found in ast.walk(module.tree):
            if isinstance(found, ast.Import):
                for alias in found.names:
                    if alias.asname:
                        module.modules[alias.asname] = alias.name
                    else:
                        module.modules[alias.name.split(".")[0]] = alias.name.split(".")[0]
            elif isinstance(found, ast.ImportFrom) and found.module:
                for alias in found.names:
                    local = alias.asname or alias.name
                    if f"{found.module}.{alias.name}" in modules:
                        module.modules[local] = f"{found.module}.{alias.name}"
                    else:
                        module.names[local] = (found.module, alias.name)
            elif isinstance(found, ast.ClassDef):
                module.classes.setdefault(found.name, found)
            elif isinstance(found, ast.FunctionDef | ast.AsyncFunctionDef):
                module.functions.setdefault(found.name, found)
    return modules


def _resolve(modules: dict[str, Module], module: Module, expr: ast.expr) -> tuple[str, str] | None:
    """(module, name) a Name or ``alias.Name`` refers to, as far as the scanned source says."""
    if isinstance(expr, ast.Name):
        if expr.id in module.classes or expr.id in module.functions or expr.id in module.constants:
            return module.name, expr.id
        return module.names.get(expr.id)
    if (
        isinstance(expr, ast.Attribute)
        and isinstance(expr.value, ast.Name)
        and expr.value.id in module.modules
    ):
        return module.modules[expr.value.id], expr.attr
    return None


def _constant(modules: dict[str, Module], module: Module, expr: ast.expr) -> str | None:
    target = _resolve(modules, module, expr)
    for _ in range(5):  # follow re-exports
        if target is None or target[0] not in modules:
            return None
        owner = modules[target[0]]
        if target[1] in owner.constants:
            return owner.constants[target[1]]
        target = owner.names.get(target[1])
    return None


def _params(function: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[list[str], set[str]]:
    positional = [a.arg for a in [*function.args.posonlyargs, *function.args.args]]
    if positional and positional[0] in ("self", "cls"):
        positional = positional[1:]
    return positional, {*positional, *(a.arg for a in function.args.kwonlyargs)}


def _init(modules: dict[str, Module], module: Module, cls: ast.ClassDef) -> ast.FunctionDef | None:
    """The ``__init__`` of a class or of its nearest scanned base."""
    for node in cls.body:
        if isinstance(node, ast.FunctionDef) and node.name == "__init__":
            return node
    for base in cls.bases:
        target = _resolve(modules, module, base)
        if target and target[0] in modules and target[1] in modules[target[0]].classes:
            owner = modules[target[0]]
            init = _init(modules, owner, owner.classes[target[1]])
            if init is not None:
                return init
    return None


def _class_attr(modules: dict[str, Module], module: Module, cls: ast.ClassDef, attr: str) -> str | None:
    for node in cls.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == attr for t in node.targets)
            and isinstance(node.value, ast.Constant)
        ):
            return str(node.value.value)
    for base in cls.bases:
        target = _resolve(modules, module, base)
        if target and target[0] in modules and target[1] in modules[target[0]].classes:
            owner = modules[target[0]]
            value = _class_attr(modules, owner, owner.classes[target[1]], attr)
            if value is not None:
                return value
    return None


def _is_subclass(
    modules: dict[str, Module], module: Module, cls: ast.ClassDef, root: tuple[str, str]
) -> bool:
    for base in cls.bases:
        target = _resolve(modules, module, base)
        if target == root:
            return True
        if target and target[0] in modules and target[1] in modules[target[0]].classes:
            owner = modules[target[0]]
            if _is_subclass(modules, owner, owner.classes[target[1]], root):
                return True
    return False


def _class_carriers(modules: dict[str, Module]) -> dict[tuple[str, str], Carrier]:
    carriers: dict[tuple[str, str], Carrier] = {}
    root = ("domain.errors", "DomainError")
    for module in modules.values():
        for name, cls in module.classes.items():
            init = _init(modules, module, cls)
            if init is None:
                continue
            positional, every = _params(init)
            if "reason" not in every:
                continue
            if _is_subclass(modules, module, cls, root):
                code = _class_attr(modules, module, cls, "code_name")
                default = _class_attr(modules, module, cls, "default_reason")
                assert code and default, f"{module.name}.{name} has no code_name / default_reason"
                carriers[module.name, name] = Carrier(module.name, name, positional, {code}, default)
            elif (module.name, name) != root and any(
                isinstance(b, ast.Name) and b.id.endswith(("Error", "Exception")) for b in cls.bases
            ):
                carriers[module.name, name] = Carrier(module.name, name, positional, None)
    # FieldViolation is a dataclass: its fields are its parameters.
    violation = modules["domain.errors"].classes["FieldViolation"]
    fields = [
        n.target.id for n in violation.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
    ]
    carriers["domain.errors", "FieldViolation"] = Carrier(
        "domain.errors", "FieldViolation", fields, set(), violation=True
    )
    return carriers


@dataclass
class _Call:
    module: Module
    call: ast.Call
    target: tuple[str, str] | None  # what the callee resolves to; None: a hand-built ErrorInfo
    scope: list[ast.FunctionDef | ast.AsyncFunctionDef]
    handlers: dict[str, tuple[str, str]]  # except-bound name -> the class it catches
    status_code: str | None  # the last grpc.StatusCode.X named before the call in its function


class _Calls(ast.NodeVisitor):
    """Every call of a callable defined in the scanned source (or of ErrorInfo), with its enclosing
    functions, except bindings and the last status code named: which are carriers is decided later."""

    def __init__(self, modules: dict[str, Module], module: Module):
        self.modules, self.module = modules, module
        self.scope: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
        self.handlers: dict[str, tuple[str, str]] = {}
        self.status_code: str | None = None
        self.calls: list[_Call] = []

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        saved = self.status_code
        self.scope.append(node)
        self.generic_visit(node)
        self.scope.pop()
        self.status_code = saved

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        caught = _resolve(self.modules, self.module, node.type) if node.type is not None else None
        if node.name and caught:
            saved = self.handlers.get(node.name)
            self.handlers[node.name] = caught
            self.generic_visit(node)
            if saved is None:
                del self.handlers[node.name]
            else:
                self.handlers[node.name] = saved
        else:
            self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Attribute) and node.value.attr == "StatusCode":
            self.status_code = node.attr
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        self.generic_visit(node)  # arguments first: a status code named in them precedes the call
        target = _resolve(self.modules, self.module, node.func)
        if target is not None or (isinstance(node.func, ast.Attribute) and node.func.attr == "ErrorInfo"):
            self.calls.append(
                _Call(self.module, node, target, list(self.scope), dict(self.handlers), self.status_code)
            )


_ERROR_INFO = Carrier("google.rpc", "ErrorInfo", [], None)


def _carrier(call: _Call, carriers: dict[tuple[str, str], Carrier]) -> Carrier | None:
    return _ERROR_INFO if call.target is None else carriers.get(call.target)


def _argument(call: ast.Call, carrier: Carrier) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == "reason":
            return keyword.value
    if "reason" in carrier.positional:
        index = carrier.positional.index("reason")
        if index < len(call.args):
            return call.args[index]
    return None


def _function_carriers(calls: list[_Call], carriers: dict[tuple[str, str], Carrier]) -> None:
    """Add, to a fixed point, the functions that hand their ``reason`` parameter to a carrier."""
    while True:
        added = False
        for found in calls:
            carrier = _carrier(found, carriers)
            if carrier is None or carrier.violation or not found.scope:
                continue
            argument = _argument(found.call, carrier)
            if not (isinstance(argument, ast.Name) and argument.id == "reason"):
                continue
            module, function = found.module, found.scope[-1]
            positional, every = _params(function)
            if (module.name, function.name) not in carriers and "reason" in every:
                carriers[module.name, function.name] = Carrier(
                    module.name, function.name, positional, carrier.codes
                )
                added = True
        if not added:
            return


@functools.cache
def extract() -> Found:
    """Every reason the source sends, with its codes (read once per session: it parses ~180 modules)."""
    modules = _modules()
    carriers = _class_carriers(modules)
    calls: list[_Call] = []
    for module in modules.values():
        visitor = _Calls(modules, module)
        visitor.visit(module.tree)
        calls.extend(visitor.calls)
    _function_carriers(calls, carriers)

    codes: dict[str, set[str]] = defaultdict(set)
    violations: set[str] = set()
    problems: list[str] = []
    # Exception classes that are no DomainError: the codes their reasons are re-raised with.
    relayed: dict[tuple[str, str], set[str]] = defaultdict(set)
    via: list[tuple[str, tuple[str, str], str]] = []  # (reason, carrier, where)

    for found in calls:
        carrier, module = _carrier(found, carriers), found.module
        if carrier is None:
            continue
        where = f"{module.path.relative_to(ROOT)}:{found.call.lineno}"
        argument = _argument(found.call, carrier)
        candidates: list[ast.expr] = [] if argument is None else [argument]
        values: list[str] = []
        while candidates:
            expr = candidates.pop()
            if isinstance(expr, ast.IfExp):
                candidates += [expr.body, expr.orelse]
            elif isinstance(expr, ast.Constant) and isinstance(expr.value, str):
                values.append(expr.value)
            elif (value := _constant(modules, module, expr)) is not None:
                values.append(value)
            elif isinstance(expr, ast.Name) and found.scope and expr.id == "reason":
                pass  # a carrier's own parameter, counted at its callers
            elif isinstance(expr, ast.Attribute) and expr.attr == "reason":
                # A reason already raised, passed on; through an except of a non-DomainError class,
                # it is sent with this carrier's code.
                if isinstance(expr.value, ast.Name) and expr.value.id in found.handlers:
                    caught = found.handlers[expr.value.id]
                    if caught in carriers and carriers[caught].codes is None and carrier.codes:
                        relayed[caught] |= carrier.codes
            elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and carrier.violation:
                if expr.func.id not in RULE_REASON_FUNCTIONS:
                    problems.append(f"{where}: field-violation reason from {expr.func.id}()")
            else:
                problems.append(f"{where}: cannot read the reason {ast.unparse(expr)!r}")
        if argument is None and carrier.default is not None:
            values.append(carrier.default)
        for value in values:
            if carrier.violation:
                if value:
                    violations.add(value)
                continue
            if not value and carrier.default is not None:
                value = carrier.default  # DomainError: ``reason or default_reason``
            if not REASON.fullmatch(value):
                problems.append(f"{where}: reason {value!r} is not UPPER_SNAKE")
            elif carrier.codes:
                codes[value] |= carrier.codes
            elif carrier.name == "ErrorInfo":
                if found.status_code is None:
                    problems.append(f"{where}: ErrorInfo {value} without a grpc.StatusCode before it")
                else:
                    codes[value].add(found.status_code)
            else:
                via.append((value, (carrier.module, carrier.name), where))
    ocpp = _ocpp_reasons(modules, problems)
    for value, relay, where in via:
        if not relayed[relay]:
            problems.append(f"{where}: {value} is raised by {relay[1]}, which no handler turns into a status")
        codes[value] |= relayed[relay]
    return Found(dict(codes), violations - set(codes), ocpp, problems)


def _ocpp_reasons(modules: dict[str, Module], problems: list[str]) -> dict[str, set[str]]:
    """Reasons an OCPP CALLERROR carries without a DomainError: ``SomeError(..., details={"reason": ...})``
    (``ocpp.exceptions``); the code is the CALLERROR's error code (the class name less ``Error``)."""
    found: dict[str, set[str]] = defaultdict(set)
    for module in modules.values():
        for call in ast.walk(module.tree):
            if not isinstance(call, ast.Call):
                continue
            callee = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
            for keyword in call.keywords:
                if keyword.arg != "details" or not isinstance(keyword.value, ast.Dict):
                    continue
                for key, value in zip(keyword.value.keys, keyword.value.values, strict=True):
                    if not (isinstance(key, ast.Constant) and key.value == "reason"):
                        continue
                    if isinstance(value, ast.Attribute) and value.attr == "reason":
                        continue  # a DomainError's reason, passed on (ocpp_error): counted where raised
                    reason = (
                        value.value
                        if isinstance(value, ast.Constant) and isinstance(value.value, str)
                        else _constant(modules, module, value)
                    )
                    where = f"{module.path.relative_to(ROOT)}:{call.lineno}"
                    if reason is None or not REASON.fullmatch(reason):
                        problems.append(f"{where}: cannot read the OCPP reason {ast.unparse(value)!r}")
                    else:
                        found[reason].add(callee.removesuffix("Error"))
    return dict(found)


def _documented() -> tuple[dict[str, set[str]], set[str], dict[str, set[str]]]:
    """The doc's tables: reason -> codes for ErrorInfo reasons, the field-violation reasons, and
    OCPP-only reason -> CALLERROR codes; each row ``| `REASON` | `CODE`, ... | ...``."""
    sections = re.split(r"^## ", ERRORS_DOC.read_text(), flags=re.MULTILINE)
    row = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|([^|]*)\|", re.MULTILINE)
    tables: dict[str, dict[str, set[str]]] = {"": {}, FIELD_VIOLATION_HEADING: {}, OCPP_HEADING: {}}
    for section in sections:
        heading = section.split("\n", 1)[0].strip()
        table = tables[heading if heading in tables else ""]
        for match in row.finditer(section):
            assert match.group(1) not in table, f"{match.group(1)} has two rows"
            table[match.group(1)] = set(re.findall(r"`([A-Za-z_]+)`", match.group(2)))
    assert tables[FIELD_VIOLATION_HEADING] and tables[OCPP_HEADING], "docs/ERRORS.md lost a section"
    return tables[""], set(tables[FIELD_VIOLATION_HEADING]), tables[OCPP_HEADING]


def test_the_extraction_reads_every_reason_it_meets() -> None:
    found = extract()
    assert found.problems == []
    # It sees the families it must see (a guard against an extraction that silently reads nothing).
    assert found.codes["TOKEN_EXPIRED"] == {"UNAUTHENTICATED"}  # via tokens._reject(reason, message)
    assert found.codes["DUPLICATE_ID"] == {"INVALID_ARGUMENT"}  # via registry._refuse(message, reason, ...)
    assert found.codes["CERT_DEVICE_UNBOUND"] == {"UNAUTHENTICATED", "INVALID_ARGUMENT"}  # PrincipalUriError
    assert found.codes["CHARGER_NOT_ALLOWED"] == {"INVALID_ARGUMENT"}  # the value of constant FOREIGN_CHARGER
    assert found.codes["INTERNAL"] == {"INTERNAL"}  # ErrorInfo built by hand
    assert "WINDOW_ENDED" in found.violations
    assert found.ocpp["METER_VALUE_INCOMPLETE"] == {"OccurrenceConstraintViolation"}
    assert not {"ACTIVE", "HISTORY", "CNY", "REGISTER"} & set(found.codes)


def test_every_reason_the_code_sends_is_in_the_catalogue_and_no_other() -> None:
    found = extract()
    documented, documented_violations, documented_ocpp = _documented()
    missing = sorted(set(found.codes) - set(documented))
    stale = sorted(set(documented) - set(found.codes))
    assert (missing, stale) == ([], []), "docs/ERRORS.md: (missing reasons, reasons the code no longer sends)"
    wrong = {r: (sorted(documented[r]), sorted(c)) for r, c in found.codes.items() if documented[r] != c}
    assert wrong == {}, "docs/ERRORS.md: reason -> (documented codes, codes in the source)"
    assert (
        sorted(found.violations - documented_violations),
        sorted(documented_violations - found.violations),
    ) == ([], []), "docs/ERRORS.md field-violation reasons: (missing, no longer in the code)"
    assert documented_ocpp == found.ocpp, "docs/ERRORS.md OCPP-only reasons: (documented, in the source)"
