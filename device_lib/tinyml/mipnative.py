# Where mip put this CPU's native module: package.json installs every arch's, each in
# tinyml_native/<arch>_<abi>/ beside tinyml/ (mip cannot choose by the board's CPU). Imported by
# backends.py only when tinyml_kernels is not on sys.path.
import os
import sys


def find(cpu):
    """Adds tinyml_native/<arch>_<abi> (cpu: backends.cpu()) of the first sys.path entry holding
    one to sys.path; returns True when found."""
    for p in sys.path:
        d = (p + "/" if p else "") + "tinyml_native/%s_%s" % cpu
        try:
            os.stat(d + "/tinyml_kernels.mpy")
        except OSError:
            continue
        sys.path.append(d)
        return True
    return False
