# ruff: noqa: E501 - the SVG template reads best unwrapped
"""A flat "label | message" SVG badge in the style of the usual README badges."""

from django.utils.html import escape

# Approximate advance widths of 11px Verdana, the badge font: close enough to size the boxes.
_NARROW = set("fijlrt.,:;!|'()[] ")
_WIDE = set("mwMW@%")


def _text_width(text: str) -> int:
    width = 0.0
    for char in text:
        if char in _NARROW:
            width += 4.0
        elif char in _WIDE:
            width += 10.0
        elif char.isupper() or char.isdigit():
            width += 7.2
        else:
            width += 6.6
    return int(width + 0.5)


def badge_svg(label: str, message: str, ok: bool = True) -> str:
    label_w, message_w = _text_width(label) + 10, _text_width(message) + 10
    total = label_w + message_w
    color = "#007ec6" if ok else "#9f9f9f"
    label, message = escape(label), escape(message)
    return f"""<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" aria-label="{label}: {message}">
<title>{label}: {message}</title>
<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>
<clipPath id="r"><rect width="{total}" height="20" rx="3" fill="#fff"/></clipPath>
<g clip-path="url(#r)"><rect width="{label_w}" height="20" fill="#555"/><rect x="{label_w}" width="{message_w}" height="20" fill="{color}"/><rect width="{total}" height="20" fill="url(#s)"/></g>
<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">
<text x="{label_w / 2:.1f}" y="15" fill="#010101" fill-opacity=".3">{label}</text><text x="{label_w / 2:.1f}" y="14">{label}</text>
<text x="{label_w + message_w / 2:.1f}" y="15" fill="#010101" fill-opacity=".3">{message}</text><text x="{label_w + message_w / 2:.1f}" y="14">{message}</text>
</g></svg>
"""
