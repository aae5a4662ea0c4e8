"""Builds the optional C extension; all metadata lives in pyproject.toml.

The compiled codec (``tracker/ami/_speedups.c``) is an optimisation: when it cannot be built
(no compiler, no Python headers, ``AMI_TRACKER_NO_EXTENSIONS=1`` at build time) the install
goes on without it and the pure-Python codec runs (``ami-tracker --version`` says which).
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """``build_ext`` that warns instead of failing when the extension does not compile."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:
            self._skip(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._skip(exc)

    def _skip(self, exc: Exception) -> None:
        print(
            f"WARNING: the compiled codec was not built ({exc.__class__.__name__}: {exc}); "
            "ami-tracker will use its pure-Python codec",
            file=sys.stderr,
        )


disabled = os.environ.get("AMI_TRACKER_NO_EXTENSIONS", "").strip() not in ("", "0")
setup(
    ext_modules=[]
    if disabled
    else [
        Extension(
            "tracker.ami._speedups",
            ["tracker/ami/_speedups.c"],
            extra_compile_args=["-O2"] if os.name == "posix" else [],
            optional=True,
        )
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
