"""Packages by discovery, installed under import names of their own.

The repository keeps its folders where people look for them (``collector/``, ``processors/``,
``schemas/``, ``deploy/local/``); installed, they are ``lineage_collector``,
``lineage_processors``, ``lineage_collector.schemas`` and ``lineage_processors.local.deploy``:
names no other distribution on PyPI uses. Every package below
those folders is found by walking them, so a new subpackage needs no entry here. Everything
else about the distribution is in ``pyproject.toml``.
"""

from setuptools import find_namespace_packages, setup

# installed import name -> folder in the repository
ROOTS = {
    "lineage_collector": "collector",
    "lineage_collector.schemas": "schemas",
    "lineage_processors": "processors",
    # The scripts and Maven files that run the local Kafka broker and schema registry.
    "lineage_processors.local.deploy": "deploy/local",
}


def discovered() -> list[str]:
    packages = []
    for name, folder in ROOTS.items():
        packages.append(name)
        # Namespace discovery: the schema folders hold no Python, only .avsc files.
        found = find_namespace_packages(where=folder, exclude=["*__pycache__*"])
        packages += [f"{name}.{sub}" for sub in found if not sub.startswith(("lineage_", "."))]
    return packages


setup(packages=discovered(), package_dir=ROOTS)
