"""Exports of scene and job directories into the formats other tools read.

- ``sim.export.webdataset``: tar shards in WebDataset conventions (``scenesim export webdataset``),
  read back by ``sim.shards``;
- ``sim.export.kubric``: Kubric's MOVi scene layout and encodings (``scenesim export kubric``);
- ``sim.export.flow``: optical flow as Middlebury/Sintel ``.flo`` files and as KITTI 16-bit PNGs
  (``scenesim export flo`` / ``kitti``).

COCO instance annotations live in ``sim.coco``. Every export reads scenes with ``sim.io`` (only
the passes it needs), writes atomically and refuses to replace an existing output unless asked
(``sim.export.common``).
"""
