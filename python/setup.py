"""The facerec Python package: pure Python over an installed libfacerec (ctypes).

    python3 -m venv --system-site-packages .venv && .venv/bin/pip install ./python

builds offline from the repository (setuptools and wheel from Debian; numpy from the system
site packages). The library itself comes from `cmake --install` (docs/library.md).
"""
import os

from setuptools import setup

here = os.path.dirname(os.path.abspath(__file__))
version = {}
with open(os.path.join(here, "facerec", "_version.py")) as f:
    exec(f.read(), version)
with open(os.path.join(here, "README.md")) as f:
    readme = f.read()

setup(
    name="facerec",
    version=version["__version__"],
    description="Face detection, alignment, embeddings, verification and identification "
                "(bindings of libfacerec)",
    long_description=readme,
    long_description_content_type="text/markdown",
    packages=["facerec"],
    python_requires=">=3.9",
    install_requires=["numpy"],
    license="MIT",
    classifiers=["Programming Language :: Python :: 3", "Programming Language :: C",
                 "Topic :: Scientific/Engineering :: Image Recognition"],
)
