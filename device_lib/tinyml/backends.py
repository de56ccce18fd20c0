# Picks the kernel backend: the native module (tinyml_kernels.mpy, built for this CPU), else the
# viper kernels (machine code made on the device), else pure Python. All give the same bytes.
import sys

NAMES = ("native", "viper", "python")
# Index is the arch field of sys.implementation._mpy (py/persistentcode.h, MP_NATIVE_ARCH_*).
ARCHS = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
         "xtensa", "xtensawin", "rv32imc", "rv64imc")


def cpu():
    """This CPU's native arch and .mpy ABI, e.g. ('x64', '6.3'); arch None when unknown."""
    mpy = getattr(sys.implementation, "_mpy", 0)
    arch = mpy >> 10 & 0x0F
    return (ARCHS[arch] if arch < len(ARCHS) else None), "%d.%d" % (mpy & 0xFF, mpy >> 8 & 3)


# The native kernels come as one .mpy per family (firmware/build_natmod.sh; the TML_IN groups of
# firmware/kernels/tinyml_kernels.c, which tests/test_op_table.py checks against this table):
# tinyml_kernels.mpy, the core (conv, depthwise, pooling, softmax, copy, and run for the bound ops),
# and tinyml_kernels_<family>.mpy beside it, imported when a model's load first asks for one of its
# kernels, so the code of families a model does not use never reaches the heap (on most ports a
# native module's code is loaded into the heap: person_detect's load does not carry the dense
# family's). A family with bound kernels has its own bind, bind_<family> (tinyml/native.py). A firmware
# with tinyml_kernels built in (the user C module) has every kernel in that one module.
FAMILIES = (
    ("dense", "fully_connected mean_hw lut quantize_f32 bind_dense"),
    ("elementwise", "add sub mul squared_difference maximum minimum prelu equal not_equal less less_equal greater "
                    "greater_equal select add_n cumsum"),
    ("math", "reduce_sum reduce_max reduce_min reduce_argmax reduce_argmin l2_normalization log_softmax "
             "resize_bilinear"),
    ("s16", "fully_connected_s16 conv2d_s16 depthwise_conv2d_s16 pool2d_s16 add_s16 sub_s16 mul_s16 lut_s16 "
            "softmax_s16 requantize_s16 quantize_f32_s16"),
    ("matmul", "batch_matmul transpose_conv2d"),
    ("moves", "remap concat"),
    ("recurrent", "svdf lstm"),
    ("fft", "rfft_q15 window_q15"),
)


def _import(name):
    if name == "native":
        try:
            import tinyml_kernels as k
        except ImportError:  # installed by mip: every arch's in tinyml_native/<arch>_<abi>/
            from tinyml.mipnative import find
            if not find(cpu()):
                raise
            import tinyml_kernels as k
        from tinyml.native import Native  # a module of its own: a load holds it, not this one
        return Native(k, FAMILIES)
    if name == "viper":
        from tinyml import kernels_viper as k
        return k
    from tinyml import kernels_py as k
    return k


_notes = set()


def _say_once(msg):
    if msg not in _notes:
        _notes.add(msg)
        print("tinyml:", msg)


def load(name=None):
    """Returns (backend name, kernel module). name forces one backend; None picks the fastest."""
    if name is not None and name not in NAMES:
        raise ValueError("unknown backend %r: choose one of %s" % (name, ", ".join(NAMES)))
    arch, abi = cpu()
    whys = []
    for n in ((name,) if name else NAMES):
        try:
            module = _import(n)
        except ValueError as e:  # MicroPython's "incompatible .mpy arch" / "incompatible .mpy file"
            whys.append("tinyml_kernels.mpy is not for this CPU (%s, .mpy %s): %s" % (arch, abi, e))
        except Exception as e:  # ImportError; on ports without viper a SyntaxError or ViperTypeError
            if n == "native":
                whys.append("no native kernels for this CPU (%s, .mpy %s) on sys.path: they are "
                            "dist/%s_%s/tinyml_kernels.mpy, built by 'make natmod'" % (arch, abi, arch, abi))
            else:
                whys.append("%s backend unavailable here (%s)" % (n, e))
        else:
            for why in whys:
                _say_once("%s; using the %s backend" % (why, n))
            return n, module
        if name:
            raise ImportError("tinyml: backend %r cannot be used: %s" % (name, whys[-1]))
    raise ImportError("tinyml: no kernel backend could be loaded: " + "; ".join(whys))
