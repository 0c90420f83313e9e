"""``gradcam-app``: serve the web app from an installed package (``streamlit run`` on the page).

    gradcam-app                              # http://localhost:8501
    gradcam-app --server.port 8600           # any ``streamlit run`` option passes through

A checkout reads its settings from ``.streamlit/config.toml``, but Streamlit looks for that file
in the working directory, which an installed package does not control. The settings that matter
are therefore passed as command-line flags here (``DEFAULT_FLAGS``), each one only when the user
has not set it already, on the command line or through Streamlit's ``STREAMLIT_*`` environment
variables.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

#: ``streamlit run`` options that the checkout's .streamlit/config.toml sets, with why.
DEFAULT_FLAGS: dict[str, str] = {
    # Large photos and own .keras models come in through the uploader (Streamlit's default: 200).
    "server.maxUploadSize": "300",
    # The file watcher is for editing the code; on an installed app it only fills the log with
    # "Inotify queue overflowed" lines and costs CPU.
    "server.fileWatcherType": "none",
    # Visitors get the app's menu, not Streamlit's developer options.
    "client.toolbarMode": "minimal",
    # Nothing leaves the machine: the app works offline.
    "browser.gatherUsageStats": "false",
    # No full garbage collection after every page and fragment run: while TensorFlow imports in
    # the background, pages waiting for it (gradcam_app.early) rerun a small fragment, and a full
    # collection over the half-imported TensorFlow after each of those runs starved the import
    # (measured: the first start's warm-up stalled past 3 minutes instead of 45 s). Python's own
    # generational collector still runs; the app's objects are long-lived (runtime.freeze_heap).
    "runner.postScriptGC": "false",
    # A closed page's session (a reload, a new link, a closed tab) is kept for reconnection this
    # many seconds (Streamlit's default: 120), holding its state and its fragments' arguments (its
    # maps: about 2 MB a session). Every view lives in its link, so a page that comes back later is
    # drawn again from its URL. Measured (tests/e2e/test_load_e2e.py's soak, 120 explanations, a
    # new page each): 262 MB growth at 120 s, 84 MB at 5 s.
    "server.disconnectedSessionTTL": "30",
}

_PACKAGE = Path(__file__).resolve().parent


class PageNotFoundError(FileNotFoundError):
    """Neither the package's page nor a checkout's ``streamlit_app.py`` is there to serve."""


def page_path() -> Path:
    """The Streamlit script to serve: ``gradcam_app/page.py``, else a checkout's ``streamlit_app.py``.

    The second case covers a repository checkout (or an editable install of one) from before the
    page moved into the package; an installed wheel always has ``page.py``.
    """
    candidates = (_PACKAGE / "page.py", _PACKAGE.parent / "streamlit_app.py")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise PageNotFoundError(
        "gradcam-app: expected the web page at "
        + " or ".join(str(c) for c in candidates)
        + ", found neither. Reinstall the package (pip install gradcam-explorer, or pip install . "
        "from a checkout)."
    )


def _env_name(option: str) -> str:
    """Streamlit's environment variable for a config option: ``server.maxUploadSize`` ->
    ``STREAMLIT_SERVER_MAX_UPLOAD_SIZE``."""
    section, _, name = option.partition(".")
    snake = "".join("_" + c if c.isupper() else c for c in name)
    return f"STREAMLIT_{section}_{snake}".upper()


def _given_on_command_line(option: str, args: Sequence[str]) -> bool:
    flag = f"--{option}"
    return any(arg == flag or arg.startswith(flag + "=") for arg in args)


def streamlit_arguments(args: Sequence[str], page: Path, environ: dict[str, str] | None = None) -> list[str]:
    """The arguments for ``streamlit`` (without the program name) that serve ``page``.

    Args:
        args: what the user typed after ``gradcam-app``; passed through unchanged, after the page.
        page: the Streamlit script to run.
        environ: the environment to look for ``STREAMLIT_*`` overrides in (default ``os.environ``).

    Returns:
        ``["run", page, <DEFAULT_FLAGS the user did not set>..., *args]``.
    """
    environ = os.environ if environ is None else environ
    defaults: list[str] = []
    for option, value in DEFAULT_FLAGS.items():
        if not _given_on_command_line(option, args) and _env_name(option) not in environ:
            defaults.append(f"--{option}={value}")
    return ["run", str(page), *defaults, *args]


def _wait_for_streamlit(timeout: float = 10.0) -> None:
    """Wait until Streamlit's runtime exists (its server is about to listen), at most ``timeout`` s."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        from streamlit.runtime import Runtime

        if Runtime.exists():
            return
        time.sleep(0.05)


def start_warm_up() -> threading.Thread | None:
    """Build the default model and trace its first map in a background thread while the server
    starts (``gradcam_app.loaders.warm_up``), so the first visitor's page does not pay for it; the
    map goes into the result cache on disk, where the next start finds it before TensorFlow is
    imported (pages that come meanwhile are drawn from it: :mod:`gradcam_app.early`).
    Off with ``GRADCAM_APP_WARM_UP=0``. A failure is printed and left for the page to report."""
    if os.environ.get("GRADCAM_APP_WARM_UP", "1").strip().lower() in ("0", "false", "no", "off"):
        return None

    from gradcam_app import service

    service.note_background_loading()  # pages draw what is known meanwhile (gradcam_app.early)

    def work() -> None:
        try:
            # Streamlit's own start first: its imports and the page's would share one interpreter.
            _wait_for_streamlit()
            # The page's own modules first (no TensorFlow among them): the first page run need
            # not import them. Then, when the cache on disk can serve the first page, let that page
            # be drawn before TensorFlow's import competes with it for the interpreter.
            import gradcam_app.page  # noqa: F401
            from gradcam_app import early, loaders, runtime

            early.prepare()
            early.yield_to_first_page()
            seconds = loaders.warm_up()
            runtime.freeze_heap()
            print(f"gradcam-app: default model ready ({seconds:.1f} s)", file=sys.stderr, flush=True)
        except Exception as error:  # the page loads the model again and shows why
            print(f"gradcam-app: warm-up skipped ({type(error).__name__}: {error})", file=sys.stderr, flush=True)

    thread = threading.Thread(target=work, name="gradcam-app-warm-up", daemon=True)
    thread.start()
    return thread


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``streamlit run`` on the app's page in this process; returns Streamlit's exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    try:
        page = page_path()
    except PageNotFoundError as error:
        print(error, file=sys.stderr)
        return 2
    # Imported here so that --help and the error above do not pay for Streamlit's import.
    from streamlit.web import cli

    start_warm_up()
    try:
        cli.main(args=streamlit_arguments(args, page), prog_name="gradcam-app")
    except SystemExit as done:  # click ends with sys.exit(); hand its status back as a return value
        if isinstance(done.code, int) or done.code is None:
            return done.code or 0
        print(done.code, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
