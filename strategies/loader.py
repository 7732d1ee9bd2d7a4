"""Turning a strategy file's text into its `Strategy` subclass.

`validate()` is a static check that answers with line-numbered problems before anything runs.
It is defense in depth and a help to users, not a security boundary: strategy code runs in a
separate sandbox process, which is the real barrier."""

import ast
import hashlib
import sys
import types
from dataclasses import dataclass
from types import TracebackType

from strategies.base import SHORT_HOOKS, Strategy, StrategyError

FILENAME = "<strategy>"

# Top-level modules a strategy may import; `strategies` only for its public names.
ALLOWED_MODULES = frozenset(
    {
        "__future__", "strategies", "strategies.indicators", "numpy", "math", "statistics",
        "dataclasses", "typing", "decimal", "datetime", "functools", "itertools", "collections",
        "enum",
    }
)  # fmt: skip
STRATEGIES_NAMES = frozenset({"Strategy", "StrategyError", "Position", "indicators"})
FORBIDDEN_NAMES = frozenset(
    {
        "open", "eval", "exec", "compile", "__import__", "globals", "locals", "vars", "input",
        "breakpoint", "exit", "quit", "help",
    }
)  # fmt: skip
ATTRIBUTE_FUNCTIONS = frozenset({"getattr", "setattr", "delattr", "hasattr"})
ALLOWED_DUNDERS = frozenset({"__init__", "__name__", "__doc__", "__qualname__"})
NUMPY_FILE_ACCESS = frozenset(
    {"load", "save", "savez", "savez_compressed", "loadtxt", "savetxt", "genfromtxt",
     "fromfile", "tofile", "memmap", "ctypeslib"}
)  # fmt: skip


@dataclass(frozen=True)
class Problem:
    line: int | None
    message: str

    def as_dict(self) -> dict[str, int | str | None]:
        return {"line": self.line, "message": self.message}


class StrategyRuntimeError(StrategyError):
    """The strategy failed while running; str() reads "line 12: ZeroDivisionError: ..."."""

    def __init__(self, detail: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {detail}" if line else detail, line)
        self.detail = detail


class StrategyLoadError(StrategyRuntimeError):
    """The code does not pass `validate()`; `problems` lists every finding."""

    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(first.message + more, first.line)
        self.problems = problems


def validate(code: str) -> list[Problem]:
    """Line-numbered problems in a strategy file; empty when it may be loaded."""
    try:
        tree = ast.parse(code, filename=FILENAME)
    except SyntaxError as exc:
        return [Problem(exc.lineno, f"syntax error: {exc.msg}")]
    checker = _Checker()
    checker.visit(tree)
    problems = checker.problems + _strategy_class_problems(tree)
    return sorted(problems, key=lambda problem: (problem.line or 0, problem.message))


def load_strategy_class(code: str, filename: str = FILENAME) -> type[Strategy]:
    """Validate, then execute the code as a module and return its one Strategy subclass.
    Raises StrategyLoadError (problems) or StrategyRuntimeError (the module raised)."""
    problems = validate(code)
    if problems:
        raise StrategyLoadError(problems)
    name = "aristobot_strategy_" + hashlib.sha256(code.encode()).hexdigest()[:16]
    module = types.ModuleType(name)
    # Registered while it runs: dataclasses and typing look the module up by name.
    sys.modules[name] = module
    try:
        exec(compile(code, filename, "exec"), module.__dict__)  # noqa: S102 - see module docstring
    except Exception as exc:
        raise runtime_error(exc, filename) from None
    finally:
        sys.modules.pop(name, None)
    found = [
        value
        for value in module.__dict__.values()
        if isinstance(value, type)
        and issubclass(value, Strategy)
        and value is not Strategy
        and value.__module__ == name
    ]
    leaves = [cls for cls in found if not any(o is not cls and issubclass(o, cls) for o in found)]
    if len(leaves) != 1:
        names = ", ".join(cls.__name__ for cls in leaves) or "none"
        raise StrategyLoadError([Problem(1, f"expected one Strategy subclass, found {names}")])
    return leaves[0]


def runtime_error(exc: BaseException, filename: str = FILENAME) -> StrategyRuntimeError:
    """The exception as the user should see it, pointing at the last line of their file that
    was running (not at SDK internals)."""
    if isinstance(exc, StrategyRuntimeError):
        return exc
    line = _last_line(exc.__traceback__, filename)
    if line is None and isinstance(exc, StrategyError):
        line = exc.line
    detail = str(exc) if isinstance(exc, StrategyError) else f"{type(exc).__name__}: {exc}"
    return StrategyRuntimeError(detail, line)


def _last_line(tb: TracebackType | None, filename: str) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class _Checker(ast.NodeVisitor):
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.numpy_names: set[str] = set()

    def report(self, node: ast.AST, message: str) -> None:
        self.problems.append(Problem(getattr(node, "lineno", None), message))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.check_module(node, alias.name)
            if alias.name == "numpy":
                self.numpy_names.add(alias.asname or "numpy")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level:
            self.report(node, "relative imports are not allowed in a strategy")
            return
        self.check_module(node, module)
        for alias in node.names:
            if module == "strategies" and alias.name not in STRATEGIES_NAMES | {"*"}:
                allowed = ", ".join(sorted(STRATEGIES_NAMES))
                self.report(node, f"'strategies' offers only: {allowed}")
            if module.split(".")[0] == "numpy" and alias.name in NUMPY_FILE_ACCESS:
                self.report(node, f"numpy file access ({alias.name}) is not allowed")

    def check_module(self, node: ast.AST, module: str) -> None:
        top = module.split(".")[0]
        allowed = module in ALLOWED_MODULES or (top in ALLOWED_MODULES and top != "strategies")
        if not allowed:
            modules = ", ".join(sorted(ALLOWED_MODULES - {"__future__"}))
            self.report(
                node, f"import of '{module}' is not allowed; a strategy may import: {modules}"
            )

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in FORBIDDEN_NAMES or (_dunder(node.id) and node.id != "__name__"):
            self.report(node, f"'{node.id}' is not allowed in a strategy")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if _dunder(node.attr) and node.attr not in ALLOWED_DUNDERS:
            self.report(node, f"access to '{node.attr}' is not allowed in a strategy")
        if (
            isinstance(node.value, ast.Name)
            and node.value.id in self.numpy_names
            and node.attr in NUMPY_FILE_ACCESS
        ):
            self.report(node, f"numpy file access ({node.value.id}.{node.attr}) is not allowed")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        function = node.func
        if (
            isinstance(function, ast.Name)
            and function.id in ATTRIBUTE_FUNCTIONS
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _dunder(node.args[1].value)
        ):
            self.report(node, f"{function.id}() on '{node.args[1].value}' is not allowed")
        self.generic_visit(node)


def _dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def _strategy_class_problems(tree: ast.Module) -> list[Problem]:
    """Exactly one Strategy subclass (a shared base class it inherits from is fine), with the
    hooks it needs and no short-selling ones."""
    base_names = {"Strategy"} | {
        alias.asname
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == "strategies"
        for alias in node.names
        if alias.name == "Strategy" and alias.asname
    }
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    strategy_classes: dict[str, ast.ClassDef] = {}
    for node in classes:  # in file order, so a base defined earlier is already known
        for base in node.bases:
            name = base.id if isinstance(base, ast.Name) else None
            if (name and (name in base_names or name in strategy_classes)) or (
                isinstance(base, ast.Attribute) and base.attr == "Strategy"
            ):
                strategy_classes[node.name] = node
                break
    used_as_base = {
        base.id
        for node in strategy_classes.values()
        for base in node.bases
        if isinstance(base, ast.Name)
    }
    leaves = [node for name, node in strategy_classes.items() if name not in used_as_base]
    problems = [
        Problem(
            item.lineno,
            f"{item.name}() is not supported: on a spot market a strategy can only buy, then "
            "sell what it holds (long-only)",
        )
        for node in strategy_classes.values()
        for item in node.body
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name in SHORT_HOOKS
    ]
    if not leaves:
        problems.append(
            Problem(
                1,
                "no Strategy subclass found: define one, e.g. `class MyStrategy(Strategy):` "
                "after `from strategies import Strategy`",
            )
        )
        return problems
    if len(leaves) > 1:
        first, second = leaves[0], leaves[1]
        problems.append(
            Problem(
                second.lineno,
                f"a second Strategy subclass '{second.name}' (the first is '{first.name}' on "
                f"line {first.lineno}): a file holds exactly one strategy",
            )
        )
        return problems
    leaf = leaves[0]
    methods = _methods(leaf, strategy_classes)
    if "should_long" not in methods:
        problems.append(
            Problem(leaf.lineno, f"{leaf.name} has no should_long() method, so it never buys")
        )
    if "go_long" not in methods:
        problems.append(
            Problem(
                leaf.lineno,
                f"{leaf.name} has no go_long() method: it must set self.buy = (qty, price) "
                "when should_long() returns True",
            )
        )
    return problems


def _methods(
    node: ast.ClassDef,
    strategy_classes: dict[str, ast.ClassDef],
    seen: frozenset[str] = frozenset(),
) -> set[str]:
    """Methods of a class and of its bases defined in the file."""
    names = {
        item.name for item in node.body if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    for base in node.bases:
        if isinstance(base, ast.Name) and base.id in strategy_classes and base.id not in seen:
            names |= _methods(strategy_classes[base.id], strategy_classes, seen | {node.name})
    return names
