# The native kernels as one object, for a load's binding (tinyml/binding.py): the core module's, else
# each from its family's module (tinyml/backends.py's FAMILIES). In a module of its own, apart from the
# backend picker, so that a load holds only this small class while it binds.
import sys


class Native:
    """The native kernels: the core module's, else each from its family's module, imported when
    first asked for and kept (an attribute of this object from then on)."""

    def __init__(self, core, families):
        self._core = core
        self._families = families  # tinyml/backends.py's FAMILIES

    def __getattr__(self, name):
        fn = getattr(self._core, name, None)
        if fn is None:
            family = None
            for f, names in self._families:
                if name in names.split():
                    family = "tinyml_kernels_" + f
            if family is None:
                raise AttributeError("the native kernels have no %r" % name)
            try:
                __import__(family)
            except ImportError:
                raise ImportError("tinyml: the native kernel %s is in %s.mpy, which is not on sys.path beside "
                                  "tinyml_kernels.mpy: tinyml deploy puts every family there" % (name, family))
            fn = getattr(sys.modules[family], name)
        setattr(self, name, fn)
        return fn
