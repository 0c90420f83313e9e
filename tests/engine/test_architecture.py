"""The layout's rules, checked on the source: the engine knows nothing of the app, no import cycle at
run time, and no private name reached across modules.

Every rule reads the code with :mod:`ast` (no import, so a rule cannot pass because a module failed
to load), except the one about ``import gradcam``, which imports it in a fresh interpreter.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("gradcam", "gradcam_app", "model_zoo")

#: Reaches into another library's private names, each behind one documented function and guarded by
#: a test that fails when the library changes: (module, attribute).
ALLOWED_FOREIGN_PRIVATES = {
    # Streamlit's after-run clean-up clears Keras' session; gradcam_app.runtime.keep_keras_session
    # replaces it (tests/app/test_runtime.py fails when Streamlit drops or changes it).
    ("gradcam_app.runtime", "_clean_problem_modules"),
    # A functional model's output tensor names its layer only in Keras' _keras_history
    # (gradcam.model_graph._output_layer; the model tests fail when Keras changes it).
    ("gradcam.model_graph", "_keras_history"),
}
#: Names with a leading underscore that are public by convention (namedtuple's API, sys and os's own).
PUBLIC_BY_CONVENTION = {"_replace", "_asdict", "_fields", "_make", "_exit", "_getframe", "_name_"}


def modules() -> dict[str, Path]:
    """Every module of the three packages, by dotted name (a package by its own name)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def run_time_nodes(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements that can run: the module's body and, inside it, class and function bodies and
    the branches of if/try/with/for; not ``if TYPE_CHECKING:`` blocks. An import inside a function
    runs at run time too: moving an import into a function hides a cycle, it does not remove it."""
    for node in body:
        if isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from run_time_nodes(node.body)
            yield from run_time_nodes(node.orelse)
            continue
        yield node
        for field in ("body", "orelse", "finalbody"):
            inner = getattr(node, field, None)
            if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                yield from run_time_nodes(inner)
        for handler in getattr(node, "handlers", []):
            yield from run_time_nodes(handler.body)


def _package_of(name: str) -> str:
    return name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]


def imported(name: str, node: ast.Import | ast.ImportFrom) -> Iterator[tuple[str, str | None]]:
    """``(module, imported name or None)`` for each name an import statement in module ``name`` takes."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name, None
        return
    base = node.module or ""
    if node.level:
        package = _package_of(name)
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    for alias in node.names:
        yield base, alias.name


def import_edges(name: str, tree: ast.Module) -> set[str]:
    """The modules of the three packages that module ``name`` imports at run time."""
    edges = set()
    for node in run_time_nodes(tree.body):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        for module, attribute in imported(name, node):
            if attribute and f"{module}.{attribute}" in MODULES:
                edges.add(f"{module}.{attribute}")  # `from . import links`: the submodule
            elif module in MODULES:
                edges.add(module)
    edges.discard(name)
    return edges


TREES = {name: ast.parse(path.read_text(), str(path)) for name, path in MODULES.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_at_run_time():
    """A cycle among the imports that run (at module level or inside a function;
    ``TYPE_CHECKING``-only imports do not count): a definition sits in the wrong module, or two
    modules should be one."""
    graph = {name: import_edges(name, tree) for name, tree in TREES.items()}
    # A package's __init__ that imports its own submodules is not a cycle with them: the submodule
    # importing a sibling goes through the package by Python's rules, not by a choice of ours.
    for name in graph:
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}
    found = cycles(graph)
    assert found == [], "import cycles at run time:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_import_gradcam_loads_no_streamlit():
    code = "import sys, gradcam, gradcam.explainer; print(sorted(m for m in sys.modules if m.startswith('streamlit')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", f"importing gradcam loaded Streamlit: {out.stdout.strip()[:300]}"


def test_the_engine_imports_nothing_of_the_app():
    """No module of gradcam/ imports Streamlit or gradcam_app, even inside a function."""
    bad = []
    for name, tree in TREES.items():
        if not name.startswith("gradcam.") and name != "gradcam":
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for module, _ in imported(name, node):
                    if module.split(".")[0] in ("streamlit", "gradcam_app"):
                        bad.append(f"{name}:{node.lineno} imports {module}")
    assert bad == [], "\n".join(bad)


def app_views() -> list[str]:
    """The app's view names, read from gradcam_app's router (its ROUTES)."""
    from gradcam_app.router import BY_KEY

    return list(BY_KEY)


def test_no_engine_module_names_an_app_view():
    """The app's URL schema (the view query parameter, the View class, the view names) lives in
    gradcam_app: a string in gradcam/ that is a query key for a view, or a name ``View``, is the
    app leaking into the engine."""
    views = app_views()
    assert "explain" in views and len(views) >= 5, views
    bad = []
    for name, tree in TREES.items():
        if not name.startswith("gradcam.") and name != "gradcam":
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Name, ast.Attribute, ast.ClassDef)):
                ident = getattr(node, "id", None) or getattr(node, "attr", None) or getattr(node, "name", None)
                if ident in ("View", "QUERY_KEYS", "VIEW_KEYS", "VIEWS"):
                    bad.append(f"{name}:{node.lineno} names {ident}")
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
                if "?view=" in text or "&view=" in text or text == "view":
                    bad.append(f"{name}:{node.lineno} holds the view query key {text[:60]!r}")
                if text.startswith("views.") or text.startswith("gradcam_app"):
                    bad.append(f"{name}:{node.lineno} names the app: {text[:60]!r}")
    assert bad == [], "\n".join(bad)


def defined_privates(tree: ast.Module) -> set[str]:
    """Private names a module defines: its functions, classes and module globals, and attributes it
    sets (``self._x = ...``, class-body ``_x = ...``, dataclass fields, slots)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("_"):
            names.add(node.value)  # __slots__ = ("_x",), setattr(self, "_x", ...)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_reach_ins(name: str, tree: ast.Module) -> list[str]:
    """The private names module ``name`` imports from, or reads on, another module's objects.

    Rules: ``from X import _y`` (X any module, ours or a library's); ``obj._y`` where ``obj`` is not
    ``self``/``cls``/``super()`` and this module defines no ``_y`` of its own (a module reading a
    private attribute of another instance of its own class, ``other._y`` in ``__eq__``, is at home).
    """
    own = defined_privates(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for module, attribute in imported(name, node):
                if attribute and _private(attribute) and attribute not in PUBLIC_BY_CONVENTION:
                    found.append(f"{name}:{node.lineno} imports {attribute} from {module}")
        elif isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in PUBLIC_BY_CONVENTION:
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super":
                continue
            if node.attr in own:
                continue
            if (name, node.attr) in ALLOWED_FOREIGN_PRIVATES:
                continue
            found.append(f"{name}:{node.lineno} reads {ast.unparse(owner)[:40]}.{node.attr}")
    return found


def test_the_private_name_rule_finds_reach_ins():
    source = (
        "from .job import _Job\n"
        "from . import links\n"
        "class A:\n"
        "    def __init__(self):\n"
        "        self._mine = 1\n"
        "    def __eq__(self, other):\n"
        "        return self._mine == other._mine\n"
        "def f(explainer):\n"
        "    return explainer._digests, links._encode_class, super().__init__()\n"
    )
    MODULES.setdefault("gradcam.x", ROOT / "gradcam" / "x.py")
    found = private_reach_ins("gradcam.x", ast.parse(source))
    assert found == [
        "gradcam.x:1 imports _Job from gradcam.job",
        "gradcam.x:9 reads explainer._digests",
        "gradcam.x:9 reads links._encode_class",
    ], found


def test_no_private_name_crosses_a_module_boundary():
    found = [line for name, tree in TREES.items() for line in private_reach_ins(name, tree)]
    assert found == [], f"{len(found)} private names reached across modules:\n" + "\n".join(found)
