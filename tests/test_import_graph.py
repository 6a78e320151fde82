"""No import circle inside cvtoolkit/, and no import from a lower floor to a higher one (docs/design.md, "Floors").

Module-level imports and imports inside functions both count.
"""

import ast
from pathlib import Path

import cvtoolkit

# Still a circle (issue 13): methods.compare dispatches to folds/learning_curve, which call run_compare.
# Drop it from here once that dispatch moves out of methods/compare.py.
KNOWN: set[frozenset[str]] = set()  # none left


def import_graph(root: Path) -> dict[str, set[str]]:
    """``module -> cvtoolkit modules it imports``; ``from pkg import sub`` counts as importing ``pkg.sub``."""
    mods = {}
    for path in root.rglob("*.py"):
        rel = path.relative_to(root.parent).with_suffix("")
        mods[".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)] = path

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        package = m.split(".") if path.name == "__init__.py" else m.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            else:
                continue
            for target in targets:
                r = resolve(target) if target.startswith("cvtoolkit") else None
                if r and r != m:
                    graph[m].add(r)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on.add(start)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = set()
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.add(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(frozenset(comp))
    return out


def test_the_checker_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset({"a", "b", "c"})]


def test_no_import_circle_in_the_package():
    graph = import_graph(Path(cvtoolkit.__file__).parent)
    assert "cvtoolkit.features.chunks" in graph["cvtoolkit.features.distributed"]
    assert "cvtoolkit.features.chunks" in graph["cvtoolkit.features.extraction"]
    assert "cvtoolkit.features.extraction" not in graph["cvtoolkit.features.distributed"]
    assert set(cycles(graph)) <= KNOWN


# The floors of docs/design.md, lowest first: a module imports only from its own floor or a lower one.
# A module's floor is that of the longest prefix listed (``cvtoolkit.io.pack`` is on the data floor,
# the rest of ``cvtoolkit.io`` on the base floor).
FLOORS: tuple[tuple[str, ...], ...] = (
    ("errors", "_lazy", "_quiet", "registry", "hashing", "imageops", "memory",
     "io", "io.atomic", "io.csv_safe", "io.lock", "io.outputs", "io.hdf5_format"),   # 0 base
    ("data", "io.hdf5_reader", "io.hdf5_writer", "io.pack"),                           # 1 data
    ("features", "classifiers", "nn", "train", "transfer", "parallel"),                 # 2 models
    ("evaluate", "inference", "audit"),                                                 # 3 evaluation
    ("methods", "tracking", "export", "kaggle"),                                        # 4 workflows
    ("", "api", "commands", "cli", "__main__"),                                         # 5 front doors ("" = cvtoolkit)
)


def floor_of(module: str) -> int:
    """The floor of ``cvtoolkit.<module>`` (longest listed prefix); KeyError for a room no floor names."""
    rel = module.split(".", 1)[1] if "." in module else ""
    best = None
    for level, prefixes in enumerate(FLOORS):
        for prefix in prefixes:
            if rel == prefix or (prefix and rel.startswith(prefix + ".")):
                if best is None or len(prefix) > len(best[1]):
                    best = (level, prefix)
    if best is None and rel == "":
        return len(FLOORS) - 1
    if best is None:
        raise KeyError(f"{module}: on no floor; add its room to FLOORS here and to docs/design.md")
    return best[0]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{m} -> {t}" for m, targets in graph.items() for t in targets
                  if t != "cvtoolkit" and floor_of(t) > floor_of(m))


def test_the_floor_checker_finds_an_upward_import():
    graph = {"cvtoolkit.data.loaders": {"cvtoolkit.features.hog", "cvtoolkit.io.atomic"},
             "cvtoolkit.io.pack": {"cvtoolkit.data.folder"}, "cvtoolkit.io.atomic": {"cvtoolkit.io.pack"}}
    assert upward_imports(graph) == ["cvtoolkit.data.loaders -> cvtoolkit.features.hog",
                                     "cvtoolkit.io.atomic -> cvtoolkit.io.pack"]


# Upward imports that arrived with concurrent work (merged after the floors were set); each is one
# function-level import to move, and this list may only shrink: the test fails when one is gone but still listed.
KNOWN_UPWARD: set[str] = {
    "cvtoolkit.io.outputs -> cvtoolkit.methods.artifact",  # is_pipeline_folder asks artifact's format check
    "cvtoolkit.transfer.onnx_runtime -> cvtoolkit.export",  # the ONNX backbone reuses export._export
}


def test_every_module_is_on_a_floor_and_imports_nothing_above_it():
    graph = import_graph(Path(cvtoolkit.__file__).parent)
    assert {floor_of(m) for m in graph} == set(range(len(FLOORS)))
    found = upward_imports(graph)
    assert sorted(set(found) - KNOWN_UPWARD) == []
    assert sorted(KNOWN_UPWARD - set(found)) == [], "fixed: remove it from KNOWN_UPWARD"


def test_design_md_gives_the_same_floors():
    text = (Path(cvtoolkit.__file__).parents[1] / "docs" / "design.md").read_text()
    section = text.split("## Floors", 1)[1].split("\n## ", 1)[0]
    for level, prefixes in enumerate(FLOORS):
        line = next(ln for ln in section.splitlines() if ln.startswith(f"{level}. "))
        for prefix in prefixes:
            if prefix and "." not in prefix:
                assert f"`{prefix}`" in line, (level, prefix, line)
