"""The wheel carries every audiogan subpackage and the shipped data (models/ and configs/ as audiogan/_shipped/).

The fast tests read ``pyproject.toml``; the slow one builds the wheel from a copy of the checkout and looks
inside it, then installs it into a folder and checks that :mod:`audiogan.resources` finds the shipped files there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from audiogan.resources import SHIPPED

ROOT = Path(__file__).resolve().parent.parent
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
PACKAGES: list[str] = SETUPTOOLS["packages"]
PACKAGE_DIR: dict[str, str] = SETUPTOOLS.get("package-dir", {})
PACKAGE_DATA: dict[str, list[str]] = SETUPTOOLS.get("package-data", {})
KINDS = ("models", "configs")  # what audiogan.resources.shipped_dir accepts
SHIPPED_PACKAGES = {kind: f"audiogan.{SHIPPED}.{kind}" for kind in KINDS}
# What a shipped model folder holds (see models/*/): every kind of file must be matched by package-data.
MODEL_FILE_KINDS = ("*.yaml", "*.safetensors", "*.md", "*.wav", "*.png")


def _source_packages() -> list[str]:
    """Every folder with an ``__init__.py`` under audiogan/, as a dotted package name."""
    return sorted(".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "audiogan").rglob("__init__.py")
                  if "__pycache__" not in p.parts)


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts
            and not any(part.startswith(".") for part in p.relative_to(folder).parts)}


def _importable_subfolders(folder: Path, package: str) -> set[str]:
    """Subfolders Python would import as subpackages of ``package`` (setuptools warns when they are left out)."""
    found = set()
    for sub in sorted(folder.iterdir()):
        if sub.is_dir() and sub.name.isidentifier() and sub.name != "__pycache__":
            found |= {f"{package}.{sub.name}"} | _importable_subfolders(sub, f"{package}.{sub.name}")
    return found


def test_package_list_is_every_audiogan_subpackage():
    code = sorted(p for p in PACKAGES if not p.startswith(f"audiogan.{SHIPPED}"))
    assert code == _source_packages(), "add the new subpackage to [tool.setuptools] packages in pyproject.toml"
    assert len(PACKAGES) == len(set(PACKAGES))


def test_package_list_matches_setuptools_discovery():
    setuptools = pytest.importorskip("setuptools", reason="setuptools is not installed in this environment")
    code = sorted(p for p in PACKAGES if not p.startswith(f"audiogan.{SHIPPED}"))
    assert code == sorted(setuptools.find_packages(where=str(ROOT), include=["audiogan*"]))


def test_shipped_folders_are_mapped_into_the_package():
    assert {k: v for k, v in PACKAGE_DIR.items() if k.startswith(f"audiogan.{SHIPPED}")} == {
        SHIPPED_PACKAGES[kind]: kind for kind in KINDS}
    for kind in KINDS:
        assert (ROOT / kind).is_dir() and not (ROOT / kind).is_symlink()
        assert not (ROOT / "audiogan" / SHIPPED).exists(), "the checkout must not hold audiogan/_shipped"
    expected = set(SHIPPED_PACKAGES.values())
    for kind in KINDS:
        expected |= _importable_subfolders(ROOT / kind, SHIPPED_PACKAGES[kind])
    assert {p for p in PACKAGES if p.startswith(f"audiogan.{SHIPPED}")} == expected


def test_package_data_globs_cover_every_shipped_file():
    model_globs = PACKAGE_DATA[SHIPPED_PACKAGES["models"]]
    for kind in MODEL_FILE_KINDS:
        assert f"**/{kind}" in model_globs, f"package-data for models/ misses {kind}"
    assert "**/*.yaml" in PACKAGE_DATA[SHIPPED_PACKAGES["configs"]]
    for kind in KINDS:
        folder = ROOT / kind
        matched = {p for pattern in PACKAGE_DATA[SHIPPED_PACKAGES[kind]] for p in folder.glob(pattern) if p.is_file()}
        missed = sorted(str(p.relative_to(ROOT)) for p in _files(folder) - matched)
        assert not missed, f"files of {kind}/ that no package-data glob ships: {missed}"
    assert (ROOT / "models" / "audiogan-base" / "model.safetensors").exists()
    assert (ROOT / "configs" / "toy" / "best.yaml").exists()


def _copy_checkout(dest: Path) -> Path:
    """The checkout without venvs, VCS data, build outputs or runs: a stale build/ would leak into the wheel."""
    skip = {".venv", ".git", "build", "dist", "runs", "data", ".whl", ".pytest_cache"}

    def ignore(folder: str, names: list[str]) -> set[str]:
        top = Path(folder).resolve() == ROOT
        return {n for n in names if (top and n in skip) or n == "__pycache__" or n.endswith(".egg-info")}

    shutil.copytree(ROOT, dest, ignore=ignore, symlinks=True)
    return dest


@pytest.mark.slow
def test_wheel_carries_every_subpackage_and_the_shipped_data(tmp_path):
    # The test extra requires setuptools>=77 (the SPDX license string), so the build runs without isolation.
    assert int(metadata.version("setuptools").split(".")[0]) >= 77, metadata.version("setuptools")
    src = _copy_checkout(tmp_path / "src")
    out = tmp_path / "wheel"
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                          "-w", str(out), str(src)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Package would be ignored" not in res.stdout + res.stderr
    (wheel,) = out.glob("audiogan-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    shipped = f"audiogan/{SHIPPED}"
    assert f"{shipped}/models/audiogan-base/model.safetensors" in names
    assert f"{shipped}/configs/toy/best.yaml" in names
    for kind in KINDS:
        for f in _files(ROOT / kind):
            assert f"{shipped}/{f.relative_to(ROOT).as_posix()}" in names
    for package in _source_packages():
        assert f"{package.replace('.', '/')}/__init__.py" in names
    for name in names:
        top = name.split("/")[0]
        assert top == "audiogan" or top.endswith(".dist-info"), f"unexpected file in the wheel: {name}"
        assert "__pycache__" not in name and not name.endswith(".pyc")

    # Installed (without a checkout beside it), audiogan.resources finds the shipped files inside the package.
    site = tmp_path / "site"
    res = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                          "--target", str(site), str(wheel)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("AUDIOGAN_MODELS", None)
    res = subprocess.run([sys.executable, "-c", "import audiogan.resources as r; print(r.models_dir()); "
                          "print(r.configs_dir())"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    models, configs = map(Path, res.stdout.split())
    assert models == site / "audiogan" / SHIPPED / "models"
    assert configs == site / "audiogan" / SHIPPED / "configs"
    assert (models / "audiogan-base" / "model.safetensors").is_file()
    assert (configs / "toy" / "best.yaml").is_file()
