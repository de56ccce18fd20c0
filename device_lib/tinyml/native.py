# The native kernels as one object, for a load's binding (tinyml/binding.py): the core module's, else
# each from its family's module (tinyml/backends.py's FAMILIES). In a module of its own, apart from the
# backend picker, so that a load holds only this small class while it binds.
import sys


class Native:
    """The native kernels: the core module's, else each from its family's module, imported when
    first asked for and kept (an attribute of this object from then on). bind() is the core's, then
    each imported family's own (bind_<family>: a family's bind knows only its kernels); the core's
    run() runs the records of every family."""

    def __init__(self, core, families):
        self._core = core
        self._families = families  # tinyml/backends.py's FAMILIES
        self._binds = [b for b in (getattr(core, "bind", None),) if b is not None]

    def bind(self, fn, args, *oc_max):
        for b in self._binds:
            rec = b(fn, args, *oc_max)
            if rec is not None:
                return rec
        return None

    def __getattr__(self, name):
        fn = getattr(self._core, name, None)
        if fn is None:
            family = None
            for f, names in self._families:
                if name in names.split():
                    family = f
            if family is None:
                raise AttributeError("the native kernels have no %r" % name)
            module = "tinyml_kernels_" + family
            try:
                __import__(module)
            except ImportError:
                raise ImportError("tinyml: the native kernel %s is in %s.mpy, which is not on sys.path beside "
                                  "tinyml_kernels.mpy: tinyml deploy puts every family there" % (name, module))
            module = sys.modules[module]
            fn = getattr(module, name)
            b = getattr(module, "bind_" + family, None)
            if b is not None and b not in self._binds:
                self._binds.append(b)
        setattr(self, name, fn)
        return fn
