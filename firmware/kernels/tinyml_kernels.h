// tinyml int8 kernels: plain C99, no MicroPython dependency, bit-exact with TFLite Micro's reference
// kernels and with device_lib/tinyml/kernels_py.py (see docs/model-format.md for the semantics).
// Header-only, one header per family: include this one from one .c file (the MicroPython binding,
// tinyml_kernels.c, or your own C program). tinyml_ops.h names the slots of each kernel's g.
#ifndef TINYML_KERNELS_H
#define TINYML_KERNELS_H

#include "tinyml_ops.h"
#include "tinyml_fixedpoint.h"
#include "tinyml_nn.h"
#include "tinyml_depthwise.h"
#include "tinyml_elementwise.h"
#include "tinyml_layout.h"
#include "tinyml_math.h"

#endif // TINYML_KERNELS_H
