"""What every self-contained HTML page ganscape writes shares: escaping, inlined PNGs, and a script that marks the
page once every image has decoded (tests check it in headless Chromium)."""
from __future__ import annotations

import base64
import html
from typing import Any

SCRIPT = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.every(function (im) { return im.complete && im.naturalWidth > 0; });
  document.body.setAttribute('data-images', ok ? 'ok' : 'broken');
  document.body.setAttribute('data-image-count', String(imgs.length));
});
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def img(b64: str | None, alt: str) -> str:
    """An <img> of base64 PNG data (empty when there is none)."""
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{b64}">' if b64 else ""


def png_base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
