"""SVG text in PDFs, one label at a time instead of one letter at a time.

WeasyPrint 70 draws every SVG `<text>` letter by letter: it lays out and draws each character
as its own Pango layout, so that per-letter `x`/`y`/`dx`/`dy`/`rotate` lists and `textLength`
work. The charts' labels use none of these — each is a single string at one point, possibly
rotated by a `transform` — yet their roughly 600 letters per municipality report cost about
120 ms CPU of a ≈ 640 ms PDF. `install()` puts a fast path in front of WeasyPrint's SVG text
renderer: a text node with at most one `x` and one `y`, and none of the per-letter attributes,
is laid out and drawn as one line of text (the same font, size, weight, fill and position;
Pango's kerning now applies between its letters, and PDF text extraction sees whole words).
Every other node still goes through WeasyPrint's own renderer.

The hook replaces module globals of `weasyprint.svg`, so it is tied to the pinned WeasyPrint
version; `install()` refuses (and leaves WeasyPrint alone) on any other version.
"""

from __future__ import annotations

import logging
from math import inf
from typing import Any

WEASYPRINT_VERSION = "70.0"
PER_LETTER = ("dx", "dy", "rotate", "letter-spacing", "textLength")

_installed = False
_refused = False
log = logging.getLogger(__name__)


def _simple(node: Any, normalize: Any) -> bool:
    """Drawn by the fast path: one string at one point, nothing per letter."""
    attrib = node.attrib
    text = node.text
    return (
        bool(text)
        and "\n" not in text
        and "\t" not in text
        and all(" " not in normalize(attrib.get(name)) for name in ("x", "y"))
        and not any(name in attrib for name in PER_LETTER)
    )


def install() -> bool:
    """Put the fast path in front of WeasyPrint's SVG text renderer (idempotent). Returns
    whether it is installed: False (nothing changed) on another WeasyPrint version."""
    global _installed, _refused
    if _installed:
        return True
    import weasyprint
    import weasyprint.svg as svg_module

    if weasyprint.__version__ != WEASYPRINT_VERSION:
        if not _refused:
            _refused = True
            log.warning(
                "WeasyPrint %s, not %s: SVG chart labels are drawn letter by letter "
                "(slower PDFs) until services/reporting/svgtext.py is checked against it",
                weasyprint.__version__,
                WEASYPRINT_VERSION,
            )
        return False

    from weasyprint.draw.text import draw_emojis, draw_first_line
    from weasyprint.matrix import Matrix
    from weasyprint.svg.bounding_box import extend_bounding_box
    from weasyprint.svg.text import Style, TextBox
    from weasyprint.svg.text import text as letter_by_letter
    from weasyprint.svg.utils import normalize, size
    from weasyprint.text.line_break import split_first_line

    def text(svg: Any, node: Any, font_size: float) -> None:
        if not _simple(node, normalize):
            letter_by_letter(svg, node, font_size)
            return
        style = _style(node, font_size, svg.font_config, Style)
        layout, _, _, width, height, baseline = split_first_line(
            node.text, style, svg.context, inf, 0
        )
        # As WeasyPrint does: an absent x or y continues from the cursor, dx/dy accumulated
        # by earlier chunks still apply, and the baseline alignment hacks are the same.
        given_x, given_y = (normalize(node.attrib.get(name)) for name in ("x", "y"))
        x = size(given_x, font_size, svg.inner_width) if "x" in node.attrib else None
        y = size(given_y, font_size, svg.inner_height) if "y" in node.attrib else None
        if x:  # (sic: WeasyPrint keeps the offset of earlier chunks at x = 0)
            svg.cursor_d_position[0] = 0
        if y:
            svg.cursor_d_position[1] = 0
        x = svg.cursor_position[0] if x is None else x
        y = svg.cursor_position[1] if y is None else y
        svg.cursor_position = x + width, y
        x_position = x + svg.cursor_d_position[0]
        y_position = y + svg.cursor_d_position[1] + _y_align(node, font_size, height)
        node.text_bounding_box = extend_bounding_box(
            node.text_bounding_box,
            (
                (x_position, y_position - baseline),
                (x_position + width, y_position - baseline + height),
            ),
        )
        svg.stream.push_state()
        fill, stroke = svg.set_graphical_state(node, font_size)
        svg.stream.begin_text()
        layout.reactivate(style)
        svg.fill_stroke(fill, stroke, text=True)
        text_box = TextBox(layout, style)
        text_box.baseline = baseline
        emojis = draw_first_line(
            svg.stream, text_box, "none", "none", Matrix(d=-1, e=x_position, f=y_position)
        )
        svg.stream.end_text()
        svg.stream.pop_state()
        draw_emojis(svg.stream, style, x, y, emojis)

    # `draw_node` recognises text nodes by comparing their renderer with the module's `text`.
    for tag, renderer in list(svg_module.TAGS.items()):
        if renderer is letter_by_letter:
            svg_module.TAGS[tag] = text
    svg_module.text = text
    _installed = True
    return True


def _style(node: Any, font_size: float, font_config: Any, style_class: type) -> Any:
    """The text style WeasyPrint's SVG renderer builds from a text node's attributes."""
    from weasyprint.css.properties import INITIAL_VALUES

    style = style_class()
    style.update(INITIAL_VALUES)
    style.font_config = font_config
    style["font_family"] = [
        font.strip("\"'") for font in node.get("font-family", "sans-serif").split(",")
    ]
    style["font_style"] = node.get("font-style", "normal")
    style["font_size"] = font_size
    if node.get("direction") in ("ltr", "rtl"):
        style["direction"] = node.get("direction")
    weight = node.get("font-weight", 400)
    if weight == "normal":
        style["font_weight"] = 400
    elif weight == "bold":
        style["font_weight"] = 700
    else:
        try:
            style["font_weight"] = int(weight)
        except ValueError:
            style["font_weight"] = 400
    return style


def _y_align(node: Any, font_size: float, height: float) -> float:
    """WeasyPrint's vertical alignment of a text line (its own approximation)."""
    ascent, descent = font_size * 0.8, font_size * 0.2
    display_anchor = node.get("display-anchor")
    baseline = node.get("dominant-baseline", node.get("alignment-baseline"))
    if display_anchor == "middle":
        return -height / 2
    if display_anchor == "top":
        return 0.0
    if display_anchor == "bottom":
        return -height
    if baseline in ("central", "middle"):
        return (ascent + descent) / 2 - descent
    if baseline in ("text-before-edge", "before_edge", "top", "hanging", "text-top"):
        return ascent
    if baseline in ("text-after-edge", "after_edge", "bottom", "text-bottom"):
        return -descent
    return 0.0
