"""The restricted environment in which diagram scripts and expressions run.

Scripts, sequence-flow conditions and timer expressions are compiled with
RestrictedPython: no imports, no names or attributes starting with "_", a short
allow-list of builtins, and guards on attribute, item and iteration access. Task
data is the namespace; the functions the platform exposes are the only other
callables a diagram sees.
"""

from __future__ import annotations

import ast
import datetime
import functools
import logging
import operator
import re
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import CodeType
from typing import Any

from RestrictedPython import (
    RestrictingNodeTransformer,
    compile_restricted_eval,
    compile_restricted_exec,
)
from RestrictedPython.Eval import default_guarded_getitem
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr_raise,
)
from SpiffWorkflow.bpmn.exceptions import (
    WorkflowTaskException as SpiffWorkflowTaskException,
)
from SpiffWorkflow.bpmn.script_engine.python_engine import (
    PythonScriptEngine as SpiffPythonScriptEngine,
)
from SpiffWorkflow.bpmn.script_engine.python_environment import (
    BasePythonScriptEngineEnvironment as SpiffBasePythonScriptEngineEnvironment,
)

logger = logging.getLogger(__name__)

# SpiffWorkflow finds the failing line of a script by this frame file name.
SCRIPT_FILENAME = "<string>"

COMPILE_CACHE_SIZE = 2048

SERVICE_TASKS_UNSUPPORTED = (
    "service tasks are not supported: diagrams call the platform's functions "
    "from script tasks instead"
)

SAFE_BUILTINS: dict[str, Any] = {
    "None": None,
    "True": True,
    "False": False,
    "len": len,
    "min": min,
    "max": max,
    "sum": sum,
    "abs": abs,
    "round": round,
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "list": list,
    "dict": dict,
    "tuple": tuple,
    "set": set,
    "sorted": sorted,
    "any": any,
    "all": all,
    "range": range,
    "enumerate": enumerate,
    "zip": zip,
    "isinstance": isinstance,
}

# Builtins a script might reach for that the environment deliberately leaves out.
UNAVAILABLE_CALLS = frozenset(
    {
        "open",
        "eval",
        "exec",
        "compile",
        "globals",
        "locals",
        "vars",
        "dir",
        "getattr",
        "setattr",
        "delattr",
        "hasattr",
        "type",
        "object",
        "input",
        "breakpoint",
        "help",
        "memoryview",
        "exit",
        "quit",
    }
)

_IN_PLACE_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": operator.imul,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
    "**=": operator.ipow,
    "<<=": operator.ilshift,
    ">>=": operator.irshift,
    "&=": operator.iand,
    "|=": operator.ior,
    "^=": operator.ixor,
}

# Values task data may hold: what the workflow serializer can store.
_DATA_SCALARS = (
    str,
    int,
    float,
    bool,
    type(None),
    datetime.datetime,
    datetime.date,
    datetime.timedelta,
)
_MAX_DATA_DEPTH = 50


@dataclass(frozen=True)
class ScriptProblem:
    """Why a script or expression was refused, and on which line of it."""

    line: int | None
    message: str

    def __str__(self) -> str:
        return (
            self.message if self.line is None else f"line {self.line}: {self.message}"
        )


class ScriptRefused(SyntaxError):
    """A script the restricted environment will not run; carries its line."""

    def __init__(self, problem: ScriptProblem) -> None:
        super().__init__(problem.message)
        # SpiffWorkflow reads the failing line from here; 0 means "unknown".
        self.lineno = problem.line or 0
        self.problem = problem


@dataclass(frozen=True)
class _Compiled:
    code: CodeType | None
    problems: tuple[ScriptProblem, ...]


_MESSAGE_REWRITES = (
    (
        re.compile(r'^"(?P<n>[^"]*)" is an invalid variable name because it starts'),
        'names starting with "_" are not allowed in diagram scripts: {n}',
    ),
    (
        re.compile(r'^"(?P<n>[^"]*)" is an invalid attribute name because it starts'),
        'attributes starting with "_" are not allowed in diagram scripts: {n}',
    ),
    (
        re.compile(r'^"(?P<n>[^"]*)" is a restricted name'),
        "the attribute {n} is not allowed in diagram scripts",
    ),
    (
        re.compile(r"^Exec calls are not allowed"),
        "exec() is not available in diagram scripts",
    ),
    (
        re.compile(r"^Eval calls are not allowed"),
        "eval() is not available in diagram scripts",
    ),
    (
        re.compile(r"^Augmented assignment of object items"),
        "augmented assignment to an item is not allowed: write d[k] = d[k] + 1",
    ),
    (
        re.compile(r"^Augmented assignment of attributes"),
        "augmented assignment to an attribute is not allowed in diagram scripts",
    ),
)


def _readable(info: str) -> str:
    for pattern, template in _MESSAGE_REWRITES:
        match = pattern.match(info)
        if match:
            return template.format(**match.groupdict())
    return info


class _DiagramScriptPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy, tightened for diagram scripts."""

    def error(self, node: ast.AST, info: str) -> None:
        """Record a refusal as "Line N: message" in the diagram's words."""
        self.errors.append(f"Line {getattr(node, 'lineno', None)}: {_readable(info)}")

    def visit_Import(self, node: ast.Import) -> ast.AST:
        """Refuse imports: diagrams use the functions the platform exposes."""
        self.error(node, "imports are not allowed in diagram scripts")
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        """Refuse imports: diagrams use the functions the platform exposes."""
        self.error(node, "imports are not allowed in diagram scripts")
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        """Refuse class definitions, which need the machinery scripts never get."""
        self.error(node, "class definitions are not allowed in diagram scripts")
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        """Refuse calls of builtins the environment leaves out, by name."""
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name in UNAVAILABLE_CALLS and name not in ("eval", "exec"):
            self.error(node, f"{name}() is not available in diagram scripts")
        return super().visit_Call(node)


_LINE_PREFIX = re.compile(r"^Line (?P<line>\d+|None): (?P<message>.*)$", re.DOTALL)


def _problem_from_policy(entry: str) -> ScriptProblem:
    match = _LINE_PREFIX.match(entry)
    if not match:
        return ScriptProblem(None, entry)
    line = match["line"]
    return ScriptProblem(None if line == "None" else int(line), match["message"])


def _normalize(source: str, mode: str) -> str:
    if mode == "eval":
        return source.strip()
    # Keep leading blank lines: error reports count lines of the original text.
    return textwrap.dedent(source)


@functools.lru_cache(maxsize=COMPILE_CACHE_SIZE)
def _compile(source: str, mode: str) -> _Compiled:
    """Compile a script once per source text; refusals are kept with it."""
    text = _normalize(source, mode)
    if not text.strip():
        empty = "the expression is empty" if mode == "eval" else "the script is empty"
        return _Compiled(None, (ScriptProblem(None, empty),))

    compile_restricted = (
        compile_restricted_eval if mode == "eval" else compile_restricted_exec
    )
    try:
        tree = ast.parse(text, SCRIPT_FILENAME, mode)
        result = compile_restricted(
            tree, filename=SCRIPT_FILENAME, policy=_DiagramScriptPolicy
        )
    except SyntaxError as err:
        message = f"syntax error: {err.msg}"
        return _Compiled(None, (ScriptProblem(err.lineno, message),))
    except (ValueError, RecursionError, MemoryError) as err:
        message = f"the text cannot be compiled: {err}"
        return _Compiled(None, (ScriptProblem(None, message),))

    problems = tuple(_problem_from_policy(entry) for entry in result.errors)
    return _Compiled(None if problems else result.code, problems)


def check_script(source: str, *, mode: str = "exec") -> list[ScriptProblem]:
    """Return why a script (or, with mode "eval", an expression) would be refused."""
    if mode not in ("exec", "eval"):
        raise ValueError(f'mode must be "exec" or "eval", not {mode!r}')
    if source is None:
        return [ScriptProblem(None, "there is no script text")]
    return list(_compile(source, mode).problems)


def _compiled_code(source: str | None, mode: str) -> CodeType:
    """Return the restricted code object for a source text, or raise ScriptRefused."""
    result = _compile(source or "", mode)
    if result.problems:
        raise ScriptRefused(result.problems[0])
    return result.code


class _ScriptPrint:
    """What `print` becomes in a diagram script: lines go to the log."""

    def __init__(self, _getattr_: Callable | None = None) -> None:
        self.lines: list[str] = []

    def _call_print(self, *objects: object, **options: object) -> None:
        text = str(options.get("sep", " ")).join(str(obj) for obj in objects)
        self.lines.append(text)
        logger.info("diagram script printed: %s", text)

    def __call__(self) -> str:
        return "\n".join(self.lines)


def _in_place(op: str, target: Any, value: Any) -> Any:
    return _IN_PLACE_OPERATORS[op](target, value)


def _apply(function: Callable, *args: Any, **kwargs: Any) -> Any:
    return function(*args, **kwargs)


def _getiter(obj: Any) -> Any:
    return iter(obj)


GUARDS: dict[str, Any] = {
    "_getattr_": safer_getattr_raise,
    "_getitem_": default_guarded_getitem,
    "_write_": full_write_guard,
    "_getiter_": _getiter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_inplacevar_": _in_place,
    "_apply_": _apply,
    "_print_": _ScriptPrint,
}


def _storable(value: Any, depth: int = 0) -> str | None:
    """Return the type name that task data cannot hold, or None if storable."""
    if depth > _MAX_DATA_DEPTH:
        return "structure nested too deeply"
    if isinstance(value, _DATA_SCALARS):
        return None
    if isinstance(value, (list, tuple)):
        return next((bad for v in value if (bad := _storable(v, depth + 1))), None)
    if isinstance(value, dict):
        for key, item in value.items():
            bad = _storable(key, depth + 1) or _storable(item, depth + 1)
            if bad:
                return bad
        return None
    return type(value).__name__


class RestrictedEnvironment(SpiffBasePythonScriptEngineEnvironment):
    """Run diagram scripts over task data with RestrictedPython's guards."""

    def __init__(self, functions: Mapping[str, Callable] | None = None) -> None:
        functions = dict(functions or {})
        for name, function in functions.items():
            if name.startswith("_") or not name.isidentifier():
                raise ValueError(f"cannot expose {name!r} to diagram scripts")
            if not callable(function):
                raise ValueError(f"{name!r} exposed to diagram scripts is not callable")
        super().__init__(functions)
        self._base = {"__builtins__": SAFE_BUILTINS, **GUARDS, **functions}

    def evaluate(
        self,
        expression: str,
        context: dict,
        external_context: Mapping | None = None,
    ) -> Any:
        """Return the value of an expression over task data."""
        self._refuse_shadowing(context, external_context or {})
        code = _compiled_code(expression, "eval")
        return eval(code, self._namespace(context, external_context or {}))

    def execute(
        self,
        script: str,
        context: dict,
        external_context: Mapping | None = None,
    ) -> bool:
        """Run a script over task data and write its variables back into it."""
        external_context = external_context or {}
        self._refuse_shadowing(context, external_context)
        code = _compiled_code(script, "exec")

        namespace = self._namespace(context, external_context)
        exec(code, namespace)

        self._write_back(namespace, context, external_context)
        return True

    def call_service(self, context: dict, **kwargs: Any) -> Any:
        """Refuse service calls: diagrams on this platform call no services."""
        raise NotImplementedError(SERVICE_TASKS_UNSUPPORTED)

    def _namespace(self, context: Mapping, external_context: Mapping) -> dict:
        # The guards go in last so that no data key can replace one of them.
        namespace = dict(external_context)
        namespace.update(context)
        namespace.update(self._base)
        return namespace

    def _refuse_shadowing(self, context: Mapping, external_context: Mapping) -> None:
        shadowed = sorted(
            (self.globals.keys() | external_context.keys()) & context.keys()
        )
        if shadowed:
            names = ", ".join(shadowed)
            raise ValueError(
                f"task data uses the name(s) {names} of function(s) diagrams call; "
                "rename the data field(s) so the function(s) stay callable"
            )

    def _write_back(
        self, namespace: dict, context: dict, external_context: Mapping
    ) -> None:
        reserved = self._base.keys() | external_context.keys()
        for name in [name for name in context if name not in namespace]:
            del context[name]

        for name, value in namespace.items():
            if name in reserved or name.startswith("_") or callable(value):
                continue
            bad = _storable(value)
            if bad:
                raise TypeError(
                    f"variable {name!r} holds a {bad}, which task data cannot store; "
                    "convert it to a list, dict, string or number"
                )
            if name not in context or context[name] is not value:
                context[name] = value


class DiagramScriptEngine(SpiffPythonScriptEngine):
    """SpiffWorkflow's script engine over the restricted environment."""

    def call_service(self, task: Any, **kwargs: Any) -> Any:
        """Refuse service tasks with an error that names the task."""
        raise SpiffWorkflowTaskException(SERVICE_TASKS_UNSUPPORTED, task=task)


def make_script_engine(functions: Mapping[str, Callable]) -> SpiffPythonScriptEngine:
    """Return a script engine exposing exactly `functions` to diagrams."""
    return DiagramScriptEngine(environment=RestrictedEnvironment(functions))
