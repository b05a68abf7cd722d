"""The demo's HTML report: one self-contained page (pictures beside it in ``assets/``), readable offline."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from recengine.demo.scenarios import Call, Picture

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;color:#222}
h1{margin-bottom:.2rem} h2{margin-top:2.5rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
.story{color:#444;max-width:60rem} .row{display:flex;flex-wrap:wrap;gap:.8rem;align-items:flex-start}
figure{margin:0;width:120px;font-size:.75rem;white-space:pre-line;text-align:center}
figure img{width:120px;height:120px;object-fit:contain;background:#f6f6f6;border:1px solid #e4e4e4}
figure.design img{image-rendering:pixelated;border-color:#b48ee8}
.label{font-weight:600;margin:.8rem 0 .3rem} table{border-collapse:collapse;font-size:.85rem}
td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left} details{margin-top:.6rem}
pre{background:#f6f6f6;padding:.6rem;overflow:auto;max-height:20rem;font-size:.75rem}
"""


def _figures(pictures: list[Picture], css: str = "") -> str:
    return "".join(f'<figure class="{css}"><img src="{escape(p.path)}" alt="{escape(p.caption)}">'
                   f"<figcaption>{escape(p.caption)}</figcaption></figure>" for p in pictures)  # fmt: skip


def _call(n: int, call: Call) -> str:
    answer = call.response
    facts = (f"θu: <b>{escape(str(answer.get('theta_source')))}</b> · designer {escape(str(answer.get('designer')))}"
             f" · {call.seconds * 1000:.0f} ms over HTTP")  # fmt: skip
    parts = [f"<h2>{n}. {escape(call.title)}</h2>", f'<p class="story">{escape(call.story)}</p>', f"<p>{facts}</p>"]
    if call.query or call.context:
        shown = ([call.query] if call.query else []) + call.context
        parts += ['<div class="label">query and context</div>', f'<div class="row">{_figures(shown)}</div>']
    parts += ['<div class="label">designs (generated for this user and query)</div>',
              f'<div class="row">{_figures(call.designs, "design")}</div>',
              '<div class="label">real catalogue items, re-ranked by personalised compatibility</div>',
              f'<div class="row">{_figures(call.matches)}</div>',
              f"<details><summary>request and answer (JSON)</summary><pre>{escape(json.dumps(call.request, indent=1))}"
              f"\n\n{escape(json.dumps(answer, indent=1)[:8000])}</pre></details>"]  # fmt: skip
    return "\n".join(parts)


def write_report(folder: Path, calls: list[Call], steps: list[tuple[str, str, float]], *, api_url: str,
                 extra: dict[str, str]) -> Path:  # fmt: skip
    """Write ``folder/index.html`` and return its path."""
    rows = "".join(f"<tr><td>{escape(name)}</td><td>{escape(detail)}</td><td>{seconds:.1f} s</td></tr>"
                   for name, detail, seconds in steps)  # fmt: skip
    facts = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in extra.items())
    body = "\n".join(_call(n, c) for n, c in enumerate(calls, 1))
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>recengine demo</title>
<style>{_STYLE}</style></head><body>
<h1>recengine demo</h1>
<p class="story">"This user is looking at this item — what should go with it?" Each answer below came from the HTTP
API at {escape(api_url)}: the designer drew candidate bottoms for the user and the query, each design was embedded
and searched in the FAISS catalogue index, and the real items found were re-ranked by the user's compatibility
model. Users and outfits are simulated stand-ins (docs/data.md); the catalogue photos are real (Myntra).
Made {made}.</p>
<table>{facts}</table>
{body}
<h2>How this was made</h2><table><tr><th>step</th><th>what</th><th>time</th></tr>{rows}</table>
</body></html>"""
    path = folder / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
