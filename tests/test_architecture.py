"""The package's shape: imports point downward only, and no module grows past 400 lines.

- the core (``audiogan/gan/``) imports torch and the standard library only, nothing else of the project;
- applications (``audio``, ``toy``, later ``image``) never import each other, nor the front-ends (the CLI and
  the demo page, which combine them);
- no import cycle anywhere in the package (imports inside functions included);
- no Python file over 400 lines.
"""

import ast
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "audiogan"
FRONT_ENDS = ("cli", "demo")  # they import the applications; no application imports them
APPS = sorted(p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()
              and p.name not in ("gan", "__pycache__") + FRONT_ENDS)
MODULES = sorted(PKG.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports (at any depth of the file), as absolute dotted names. ``from X import
    y`` counts as importing ``X.y`` when that is a module of the package, else ``X``."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            subs = {f"{module}.{a.name}" for a in node.names} & KNOWN
            found |= subs or {module}
    return found


KNOWN = {module_name(p) for p in MODULES}


def test_the_package_is_found():
    assert {"audio", "toy"} <= set(APPS) and len(MODULES) > 40
    assert imports(PKG / "audio" / "train.py") >= {"audiogan.gan", "audiogan.audio.models", "audiogan.config"}


def test_gan_core_imports_only_torch_and_stdlib():
    allowed_roots = {"torch", "__future__"} | set(sys.stdlib_module_names)
    files = list((PKG / "gan").rglob("*.py"))
    assert files
    for path in files:
        for name in imports(path):
            root = name.split(".")[0]
            if root == "audiogan":
                assert name.startswith("audiogan.gan"), f"{path.name} imports {name}"
            else:
                assert root in allowed_roots, f"{path.name} imports {name}"


@pytest.mark.parametrize("app", APPS)
def test_applications_do_not_import_each_other_or_the_cli(app):
    files = list((PKG / app).rglob("*.py"))
    assert files
    for path in files:
        for name in imports(path):
            for other in APPS:
                if other != app:
                    assert not name.startswith(f"audiogan.{other}"), f"{path} imports {name}"
            for front in FRONT_ENDS:
                assert not name.startswith(f"audiogan.{front}"), f"{path} imports the front-end {front}"


def test_no_import_cycle():
    graph = {module_name(p): {m for m in imports(p) if m in KNOWN and m != module_name(p)} for p in MODULES}
    done: set[str] = set()

    def visit(node: str, stack: list[str]) -> None:
        if node in stack:
            cycle = stack[stack.index(node):] + [node]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if node in done:
            return
        for nxt in sorted(graph[node]):
            visit(nxt, stack + [node])
        done.add(node)

    for node in sorted(graph):
        visit(node, [])


def test_cycle_detector_sees_a_cycle(tmp_path, monkeypatch):
    """The cycle check itself: two modules importing each other are reported."""
    (tmp_path / "audiogan").mkdir()
    for a, b in (("one", "two"), ("two", "one")):
        (tmp_path / "audiogan" / f"{a}.py").write_text(f"from . import {b}\n")
    (tmp_path / "audiogan" / "__init__.py").write_text("")
    monkeypatch.setattr(sys.modules[__name__], "PKG", tmp_path / "audiogan")
    monkeypatch.setattr(sys.modules[__name__], "MODULES", sorted((tmp_path / "audiogan").rglob("*.py")))
    monkeypatch.setattr(sys.modules[__name__], "KNOWN", {"audiogan", "audiogan.one", "audiogan.two"})
    with pytest.raises(pytest.fail.Exception, match="import cycle: audiogan.one -> audiogan.two -> audiogan.one"):
        test_no_import_cycle()


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PKG)) for p in MODULES])
def test_no_module_over_400_lines(path):
    assert len(path.read_text().splitlines()) <= 400
