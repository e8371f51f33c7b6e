"""bioloop: a closed-loop bio-interface emulator around a model of an MRAM neuromorphic chip."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bioloop")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
