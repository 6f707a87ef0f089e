"""Bundled demo data and demo model checkpoints (see README.md in this folder).

Installed as the package ``biocoreset_viz._bundled``; read with ``importlib.resources``.
"""
