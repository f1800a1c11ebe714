"""Imports point downward: gan/ knows nothing of the project; applications never import each other."""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "audiogan"
APPS = ("audio", "image", "toy")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                base = path.relative_to(PKG.parent).with_suffix("").parts[:-node.level]
                found.add(".".join(base + ((node.module,) if node.module else ())))
            else:
                found.add(node.module or "")
    return found


def test_gan_core_imports_only_torch_and_stdlib():
    import sys
    allowed_roots = {"torch", "__future__"} | set(sys.stdlib_module_names)
    for path in (PKG / "gan").rglob("*.py"):
        for name in _imports(path):
            root = name.split(".")[0]
            if root == "audiogan":
                assert name.startswith("audiogan.gan"), f"{path.name} imports {name}"
            else:
                assert root in allowed_roots, f"{path.name} imports {name}"


@pytest.mark.parametrize("app", APPS)
def test_applications_do_not_import_each_other(app):
    for path in (PKG / app).rglob("*.py") if (PKG / app).exists() else []:
        for name in _imports(path):
            for other in APPS:
                if other != app:
                    assert not name.startswith(f"audiogan.{other}"), f"{path} imports {name}"
            assert not name.startswith("audiogan.cli"), f"{path} imports the CLI"
