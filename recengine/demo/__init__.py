"""The README's main job: a shop built from the default catalogue, served, asked, and shown in an HTML report.

``recengine demo`` (``bash scripts/demo.sh``) runs :func:`~recengine.demo.run.run_demo`.
"""

from recengine.demo.run import DemoResult, DemoSize, run_demo

__all__ = ["DemoResult", "DemoSize", "run_demo"]
