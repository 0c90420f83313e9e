"""Crafting model files as a hostile or broken upload would be crafted."""

from __future__ import annotations

import json
import zipfile


def rewrite_config(path, mutate):
    """Edit config.json inside a .keras archive (how a hostile file would be crafted)."""
    with zipfile.ZipFile(path) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    cfg = json.loads(entries["config.json"])
    mutate(cfg)
    entries["config.json"] = json.dumps(cfg).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in entries.items():
            zf.writestr(n, data)
