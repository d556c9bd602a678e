"""Turn a MediaWiki XML dump (optionally .bz2) or plain text into one short line of prose per row.

    python scripts/prepare_text.py IN.xml.bz2 OUT.txt [--width 32]

The language model (Sec. 5.5) trains on the first 32 characters of each line. This script strips
wiki markup (templates, references, tables, links, emphasis, headings, lists), keeps prose
paragraphs and wraps each at word boundaries into lines of at most `width` characters, so every
line starts at a word and the training set uses the whole text. English text that needs no
download: the gensim wheel's test data holds an English Wikipedia excerpt,

    pip download gensim --no-deps -d /tmp/gensim
    unzip -o /tmp/gensim/gensim-*.whl 'gensim/test/test_data/enwiki-*' -d /tmp/gensim
    python scripts/prepare_text.py \
        /tmp/gensim/gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2 \
        data/enwiki32.txt
"""

from __future__ import annotations

import argparse
import bz2
import html
import re
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from wgangp.cli import entry_point
from wgangp.errors import writing


def _drop_nested(text: str, start: str, end: str) -> str:
    """Remove every (possibly nested) start...end span, e.g. {{templates}} and {| tables |}."""
    out, depth, i = [], 0, 0
    while i < len(text):
        if text.startswith(start, i):
            depth, i = depth + 1, i + len(start)
        elif depth and text.startswith(end, i):
            depth, i = depth - 1, i + len(end)
        else:
            if not depth:
                out.append(text[i])
            i += 1
    return "".join(out)


_LINK = re.compile(r"\[\[(?:[^\]|]*\|)?([^\]]*)\]\]")  # [[target|label]] or [[target]] -> label or target


def strip_wiki(text: str) -> str:
    """Wikitext -> plain prose paragraphs (one per line)."""
    text = html.unescape(text)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"<ref[^>/]*/>", "", text)
    text = re.sub(r"<ref[^>]*>.*?</ref>", "", text, flags=re.S)
    text = _drop_nested(_drop_nested(text, "{{", "}}"), "{|", "|}")
    # Files, images and categories hold captions and sort keys, not prose; nested links inside them first.
    for _ in range(2):
        text = re.sub(r"\[\[(?:File|Image|Category|[a-z\-]{2,12}):[^\[\]]*(?:\[\[[^\]]*\]\][^\[\]]*)*\]\]", "", text)
    text = _LINK.sub(r"\1", text)
    text = re.sub(r"\[https?://\S+ ([^\]]*)\]", r"\1", text)  # [url label] -> label
    text = re.sub(r"\[https?://\S+\]", "", text)
    text = re.sub(r"<[^>]+>", "", text)  # remaining html tags
    text = re.sub(r"'{2,}", "", text)  # ''italic'', '''bold'''
    paragraphs = []
    for line in text.splitlines():
        line = line.strip()
        # headings, lists, indents, tables, redirects and leftovers of removed markup are not prose
        if not line or line[0] in "=*#:;|!{}" or line.startswith("__") or len(line) < 40:
            continue
        paragraphs.append(re.sub(r"\s+", " ", line))
    return "\n".join(paragraphs)


def wiki_texts(path: Path) -> Iterator[str]:
    """Article texts (namespace 0, not redirects) of a MediaWiki XML export, .bz2 or plain."""
    opener = bz2.open if path.suffix == ".bz2" else open
    with opener(path, "rb") as f:
        ns, text = None, None
        for _, elem in ET.iterparse(f):
            tag = elem.tag.rsplit("}", 1)[-1]
            if tag == "ns":
                ns = elem.text
            elif tag == "text":
                text = elem.text or ""
            elif tag == "page":
                if ns == "0" and not text.lstrip().upper().startswith("#REDIRECT"):
                    yield text
                ns, text = None, None
                elem.clear()


def wrap_lines(paragraphs: str, width: int) -> list[str]:
    """Each paragraph wrapped at word boundaries into lines of at most `width` characters."""
    return [line for p in paragraphs.splitlines() for line in textwrap.wrap(p, width, break_on_hyphens=False)]


@entry_point
def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="MediaWiki XML export (.xml or .xml.bz2), or a plain .txt file")
    parser.add_argument("out", type=Path, help="the one-line-per-example text file to write")
    parser.add_argument("--width", type=int, default=32, help="characters per line at most (the model's seq_len)")
    args = parser.parse_args(argv)
    if not args.source.is_file():
        parser.error(f"{args.source} does not exist")
    if ".xml" in args.source.name:
        prose = "\n".join(strip_wiki(t) for t in wiki_texts(args.source))
    else:
        prose = args.source.read_text(encoding="utf-8")
    lines = wrap_lines(prose, args.width)
    with writing(args.out, "text file"):
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    chars = sum(map(len, lines))
    print(f"wrote {len(lines)} lines ({chars} characters of prose) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
