"""Render every docs table drawn from committed records (results/<table>/*.json; wgangp.results).

.venv/bin/python scripts/render_results.py            # rewrite the blocks of docs/*.md from the records
.venv/bin/python scripts/render_results.py --check    # exit 1 naming each block that differs (make test runs it)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from wgangp.cli import entry_point
from wgangp.results import render_docs

ROOT = Path(__file__).resolve().parents[1]


@entry_point
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a block differs")
    args = parser.parse_args()
    docs = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
    differing = render_docs(docs, ROOT / "results", check=args.check)
    if args.check and differing:
        print(
            "these docs tables differ from their rendering from the records (a hand edit, or a record missing): "
            + "; ".join(differing)
            + ". Run scripts/render_results.py to re-render them, or restore the records.",
            file=sys.stderr,
        )
        sys.exit(1)
    print("re-rendered: " + ", ".join(differing) if differing else "every rendered table matches its records")


if __name__ == "__main__":
    main()
