"""A headless-browser check of a written HTML page: a copy of the page, with a script that counts the images the
browser decoded, is rendered by Debian's chromium; the page itself carries no test harness."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

COUNT_IMAGES = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var p = document.createElement('p'); p.id = 'lf-image-count';
  p.textContent = 'images decoded: ' + ok + ' of ' + imgs.length; document.body.appendChild(p);
});
</script>"""


def images_decoded(page: Path, work: Path) -> tuple[int, int] | None:
    """(images decoded, images on the page) as a headless chromium renders ``page``; None without chromium."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        return None
    copy = work / f"checked-{page.name}"
    copy.write_text(page.read_text().replace("</body>", COUNT_IMAGES + "</body>"))
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          f"--user-data-dir={work / 'profile'}", "--virtual-time-budget=5000", "--dump-dom",
                          copy.as_uri()], capture_output=True, text=True, timeout=120).stdout
    m = re.search(r"images decoded: (\d+) of (\d+)", dom)
    assert m, dom[-500:]
    return int(m.group(1)), int(m.group(2))
