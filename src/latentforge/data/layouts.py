"""Known file layouts, consulted by ``read_file`` before its generic rules. A science domain
(``latentforge.domains``) registers its layouts in ``LAYOUTS``; they are tried in the order registered.

A layout's ``read`` returns None when the keys asked for fall outside it (a dataset of the file named by the
user): the generic reader then picks the named array. The record it returns may carry what describes the whole
set (a grid, a geometry, a unit), which ``load_dataset`` keeps in ``ArrayDataset.info``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import DataError
from ..registry import Registry
from .records import KEY_OPTIONS, DataRecord

KEY_NAMES = KEY_OPTIONS


@dataclass(frozen=True)
class FileLayout:
    """``matches(source) -> bool`` (cheap; ``source`` may be a folder or a glob) and ``read(source, **keys)`` ->
    a DataRecord, or None to leave the source to the generic reader."""

    summary: str
    matches: Callable[[str], bool]
    read: Callable[..., DataRecord | None]


LAYOUTS: Registry[FileLayout] = Registry("file layout", error=DataError)


def read_known_layout(source: str | os.PathLike, **keys: Any) -> DataRecord | None:
    """The record of a source in a known layout, else None."""
    s = str(source)
    for name, layout in LAYOUTS.items():
        if layout.matches(s):
            try:
                return layout.read(s, **{k: keys.get(k) for k in KEY_NAMES})
            except DataError:
                raise
            except (OSError, ValueError, KeyError, TypeError, IndexError) as e:  # damaged or foreign content
                raise DataError(f"{s}: cannot read as {name} ({type(e).__name__}: {e}); is the file damaged?") from None
    return None
