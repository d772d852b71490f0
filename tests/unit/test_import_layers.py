"""Imports go one way: cli -> index -> facesim, and no module of `index` imports one that imports it
back, directly or through others.

Why parse instead of importing: an import inside a function (kept there so that read-only commands
never load the encoder, OpenCV or Ray) runs only when that function does, so importing the modules
would not see it; yet a circle through it is still a circle for whoever reads or moves the code.
The sources are read with `ast`, every import at any depth counts, and nothing is executed.
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

import index

REPO = Path(index.__file__).resolve().parent.parent
LAYERS = ("cli", "index", "facesim")
CLI_MODULES = ("cli", "cli_options", "cli_output")  # the top layer: the commands, their vocabulary, their renderer


def _layer(name: str) -> str | None:
    top = name.split(".")[0]
    return "cli" if top in CLI_MODULES else top if top in LAYERS else None


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    """Every module of the three layers, by dotted name."""
    found = {name: REPO / f"{name}.py" for name in CLI_MODULES}
    for package in LAYERS[1:]:
        for path in sorted((REPO / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _imported(name: str, path: Path, modules: set[str]) -> set[str]:
    """The modules of the three layers that `name` imports anywhere in its source. `from a import b`
    names module a.b when there is one, else module a."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                targets.add(submodule if submodule in modules else base)
    return {target for target in targets if _layer(target) is not None and target != name}


def _import_graph() -> dict[str, set[str]]:
    sources = _sources()
    return {name: _imported(name, path, set(sources)) for name, path in sources.items()}


def _circle_from(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """The shortest chain of imports from `start` back to itself, if there is one."""
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        for target in sorted(graph.get(current, ())):
            if target == start:
                chain = [current]
                while chain[-1] != start:
                    chain.append(came_from[chain[-1]])
                return [start, *reversed(chain[:-1]), start]
            if target not in came_from and target in graph:
                came_from[target] = current
                queue.append(target)
    return None


def test_no_index_module_imports_one_that_imports_it_back() -> None:
    graph = _import_graph()
    index_only = {name: {t for t in targets if t.split(".")[0] == "index"} for name, targets in graph.items()}
    index_only = {name: targets for name, targets in index_only.items() if name.split(".")[0] == "index"}
    circles: dict[frozenset[str], str] = {}
    for name in sorted(index_only):
        circle = _circle_from(index_only, name)
        if circle is not None:
            circles.setdefault(frozenset(circle), " -> ".join(circle))
    assert not circles, "import circles in index/:\n" + "\n".join(circles.values())


def test_imports_go_one_way_cli_then_index_then_facesim() -> None:
    below = {"cli": set(), "index": {"cli"}, "facesim": {"cli", "index"}}
    upward = [
        f"{name} imports {target}"
        for name, targets in sorted(_import_graph().items())
        for target in sorted(targets)
        if _layer(target) in below[_layer(name)]
    ]
    assert not upward, "imports against the layers (cli -> index -> facesim):\n" + "\n".join(upward)


def test_the_checks_see_imports_inside_functions_and_relative_ones(tmp_path: Path) -> None:
    """The parser itself: an import at any depth counts, and `from . import x` names the sibling."""
    source = tmp_path / "index" / "ingest" / "one.py"
    source.parent.mkdir(parents=True)
    source.write_text("def run():\n    from . import two\n    import facesim.errors\n")
    modules = {"index.ingest.one", "index.ingest.two", "facesim.errors"}
    assert _imported("index.ingest.one", source, modules) == {"index.ingest.two", "facesim.errors"}
    assert _circle_from({"a": {"b"}, "b": {"c"}, "c": {"a"}}, "a") == ["a", "b", "c", "a"]
    assert _circle_from({"a": {"b"}, "b": set()}, "a") is None
