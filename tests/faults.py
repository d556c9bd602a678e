"""Helpers of the fault tests: how a user error must reach the user (one paragraph on stderr, no traceback)."""

from __future__ import annotations

import os
import shutil
import subprocess


def assert_one_paragraph(out: subprocess.CompletedProcess, code: int, *fragments: str) -> str:
    """`out` exited with `code`, its stderr holds exactly one `error:` paragraph containing every fragment
    and no traceback; returns that paragraph."""
    assert out.returncode == code, (out.returncode, out.stderr[-3000:])
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, out.stderr[-3000:]
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    return errors[0]


def without_read_override() -> list[str] | None:
    """A command prefix that runs a process without the power to read what its permissions forbid.

    Root ignores file modes (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so chmod 000 alone tests nothing here.
    setpriv drops both capabilities from the bounding set: the child is still root (it owns the run's
    files) but reads a mode-000 file as anyone would. None where that is impossible."""
    if os.geteuid() != 0:
        return []  # an ordinary user: chmod already bites
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


def run_main(main, argv: list[str], capsys) -> subprocess.CompletedProcess:
    """A command line's `main(argv)` called in this process, as run_cli would run it in a new one: its exit code
    (SystemExit's, 0 on return) and what it printed (capsys). For error messages, where a new interpreter adds
    only seconds."""
    capsys.readouterr()  # what came before is not this command's
    try:
        code = main(argv) or 0
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return subprocess.CompletedProcess(argv, code, out.out, out.err)
