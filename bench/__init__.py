"""``scenesim bench``: where the time goes and what image quality it buys (README, Performance).

Modules: ``harness`` (the benchmark: configurations, sections, table and JSON), ``bare_cycles`` (the
bare-Cycles baseline script), ``quality`` (PSNR, SSIM and the settings grid), ``throughput`` (worker
scaling and per-scene cost through the ``scenesim render`` command).
"""
