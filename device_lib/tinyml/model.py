# The interpreter: a parsed .tml model, its activation arena, and the kernel calls that run it.
# Weights come from RAM (the whole file read in) or stream from the open file through a bounded
# window, a run of output channels at a time (docs/kernels.md).
import gc
import sys
from array import array
from tinyml import tmlfile
from tinyml.steps import align4 as _align4, chunking as _chunking, forget as _forget, use as _use




# Imported once now and forgotten: the names their code interns stay (MicroPython keeps every
# interned string), low in the heap with the library's, not in the middle of a load's free space.
_use("backends"), _use("native"), _use("planner"), _use("ops"), _use("moves"), _use("binding")
_forget("backends", "native", "planner", "ops", "moves", "binding")


def _shape(t):
    return "x".join(str(d) for d in t.shape) or "scalar"


def _which(k, ids, kind):
    if not (isinstance(k, int) and 0 <= k < len(ids)):
        raise IndexError("the model has %d %s(s): %s k is 0..%d, not %r" % (len(ids), kind, kind, len(ids) - 1, k))
    return k


class _Slicer:
    def __getitem__(self, k):
        return k


_ALL = _Slicer()[:]  # buf[_ALL] = data copies without building a slice object (an allocation) per call
_REFILL = sys.implementation.name == "micropython"  # its arrays take a memoryview's bytes (CPython's do not)
_BUFFERS = (bytes, bytearray, memoryview)


class Model:
    def __init__(self, source, backend=None, name="model", window=None):
        """source: the whole .tml file as bytes, or a file open in binary mode from which weights
        stream through a window of `window` bytes (docs/kernels.md)."""
        self.name = name
        streamed = not isinstance(source, (bytes, bytearray, memoryview))
        self._file = source if streamed else None
        self._stream_window = window if streamed else None
        self.arena_bytes = self.window_bytes = 0
        self._fast = self._outs = self._ret = None  # run()'s buffers, output arrays and result, kept
        gc.collect()  # the kernel module (the native one is ~25 KB of code) packs low in the heap
        self.backend, self._k = _use("backends").load(backend)
        _forget("backends")
        # The two large blocks, the arena and the weight window, must each find one free block, however
        # the library grows. A first pass checks the file's records, sizes the blocks and plans; its
        # results, made among its garbage (high in the heap), are copied after a collection so that they
        # sit low. Then the ops are checked (tinyml/validate.py: its code comes and goes), and only then
        # are the blocks allocated, the larger first: MicroPython's allocator puts it in the lowest gap
        # that holds it, and wherever both blocks fit in the heap's gaps the smaller still finds one.
        try:
            self._measure(source)
        except tmlfile.ModelFileError:
            raise
        except Exception:  # ops that the checks refuse may not plan: the checks say why
            self._check(source)
            raise
        gc.collect()
        self._offsets = array("i", self._offsets)
        self._kinds = {k: v and (v[0], v[1]) for k, v in self._kinds.items()}
        gc.collect()
        self._check(source)
        _forget("ops")  # validate.py's import of it
        gc.collect()
        self._window = None
        if streamed and self.window_bytes > self.arena_bytes:
            self._window = memoryview(bytearray(self.window_bytes))
        self._arena = bytearray(self.arena_bytes)
        if streamed and self._window is None:
            self._window = memoryview(bytearray(self.window_bytes))
        self.tensors, self.ops, self.input_ids, self.output_ids = self._parse(source, False)
        offsets = self._offsets  # _measure's offsets and op table rows
        kinds = self._kinds
        self._offsets = self._kinds = None
        # bytes of each tensor: constants in RAM; arena slices of the inputs, outputs and state (the ops'
        # others are made while they bind, tinyml/binding.py)
        self._data = [tmlfile.const_view(source, t) if t.const and not streamed else None for t in self.tensors]
        arena = memoryview(self._arena)
        kept = set(self.input_ids + self.output_ids)
        for t in self.tensors:
            if t.variable:
                kept.add(t.index)
        for i in kept:
            if offsets[i] >= 0:
                self._data[i] = arena[offsets[i]:offsets[i] + self.tensors[i].nbytes]
        if streamed:  # constants other than the weighted ops' stream are small: keep them in RAM
            weighted = set()
            for op in self.ops:
                if kinds[op.opcode] and kinds[op.opcode][1] == "streams":
                    weighted.update(op.inputs[1:])
                elif kinds[op.opcode] and kinds[op.opcode][1] == "whole":  # read per call (tinyml/stateful.py)
                    weighted.update(op.inputs)
            for t in self.tensors:
                if t.const and t.index not in weighted:
                    self._data[t.index] = self._read_const(t)
            weighted = None
        self._steps = _use("binding").bind_all(self, kinds, offsets, arena, kept)
        _forget("binding")
        self._k = None  # only binding needs it
        self._prune(source)
        self._reset_state()
        _forget("moves", "stateful", "native")
        self.inputs = [self.tensors[i] for i in self.input_ids]
        self.outputs = [self.tensors[i] for i in self.output_ids]

    def _measure(self, source):
        # checks the file's records (not yet the ops), sets the two blocks' sizes, and keeps what
        # binding needs of the planner and the op table: the tensors' offsets and each opcode's
        # (kernel, flags) or None, so neither module is on the heap beside the arena
        tables = self._parse(source, "records")
        self._offsets, self.arena_bytes = _use("planner").plan(*tables)[:2]
        tensors = tables[0]
        ops = _use("ops")
        kinds = self._kinds = {}
        for op in tables[1]:
            if op.opcode not in kinds:
                row = ops.row(op.opcode)
                kinds[op.opcode] = row and row[2:4]
            if self._file is None:
                continue
            if ops.streams(op.opcode):
                need = _chunking([tensors[i] for i in op.inputs[1:5]], self._stream_window,
                                 kinds[op.opcode][0] != "fully_connected")[2]
                self.window_bytes = max(self.window_bytes, need)
            elif ops.whole(op.opcode):  # all its constants at once
                need = sum(_align4(tensors[i].nbytes) for i in op.inputs if tensors[i].const)
                self.window_bytes = max(self.window_bytes, need)
        _forget("planner", "ops")

    def _check(self, source):
        # the ops against the op table and each other (tinyml/validate.py)
        tmlfile.check_ops(source, self._parse(source, False), self.name)

    def _parse(self, source, check):
        if self._file is not None:
            return tmlfile.parse_file(source, self.name, check)
        return tmlfile.parse(source, self.name, check)

    def _read_const(self, t):
        self._file.seek(t.offset)
        return memoryview(self._file.read(t.nbytes))

    def _prune(self, source):
        # After binding, the ops' buffers are held by their steps (the native records by address: their
        # owners are held here, the file's bytes or the constants read from it; the arena and the window
        # are the model's). A tensor's view stays only where the API reaches it: inputs, outputs, state.
        D = self._data
        self._held = source if self._file is None else [D[t.index] for t in self.tensors if t.const and D[t.index] is not None]
        keep = self.input_ids + self.output_ids
        for t in self.tensors:
            if not (t.variable or t.index in keep):
                D[t.index] = None

    def _set_input(self, t, x):
        if isinstance(x, _BUFFERS):
            data = x
        else:
            lo, hi, kind = (-32768, 32767, "h") if t.dtype == 4 else \
                (-0x80000000, 0x7FFFFFFF, "i") if t.dtype == 2 else (-128, 127, "b")  # int32: a lookup's ids
            if x and (min(x) < lo or max(x) > hi):  # array('b'), array('h') would wrap them silently
                raise ValueError("input '%s' takes %s values, %d..%d: got %d..%d (predict() takes real numbers)"
                                 % (t.name, tmlfile.DTYPE_NAME[t.dtype], lo, hi, min(x), max(x)))
            data = array(kind, x)
            if kind != "b":  # as bytes: MicroPython copies into the arena's bytes only from 1-byte items
                data = bytes(data)
        if len(data) != t.nbytes:
            raise ValueError("input '%s' takes %d bytes (shape %s), got %d"
                             % (t.name, t.nbytes, _shape(t), len(data)))
        self._data[t.index][_ALL] = data

    def output(self, k=0):
        """Output k of the last inference, copied: array('b') of int8, array('h') of int16 (a 16x8 model),
        array('i') of int32 (an argmax's indices), array('B') of a comparison's bools (0 or 1), or
        array('f') of float32."""
        t = self.outputs[k]
        return array({1: "b", 2: "i", 3: "B", 4: "h"}.get(t.dtype, "f"), bytes(self._data[t.index]))

    def _outputs(self):
        outs = tuple(self.output(k) for k in range(len(self.outputs)))
        return outs[0] if len(outs) == 1 else outs

    def run(self, *xs):
        """Runs one inference on raw int8 inputs (bytes, array('b') or a list of ints in -128..127),
        one per model input; a 16x8 model's int16 inputs are bytes, array('h') or ints in -32768..32767,
        a lookup's int32 ids (a Keras Embedding's) bytes, array('i') or ints.
        Returns the output as output() gives it (array('b') of int8), a tuple when several. Outputs of
        one byte a value are the same arrays at every run(), refilled: copy one (bytes(out), list(out))
        to keep it past the next run(). A model of one input and one output of bytes allocates nothing
        after its first run() (_run1)."""
        n = len(self.input_ids)
        if len(xs) != n:
            raise TypeError("the model has %d input(s), run() got %d" % (n, len(xs)))
        for k in range(n):
            self._set_input(self.inputs[k], xs[k])
        self.invoke()
        outs = self._outs
        if outs is not None:  # refilled
            for k in range(len(outs)):
                outs[k][_ALL] = self._data[self.output_ids[k]]
            return self._ret
        outs = [self.output(k) for k in range(len(self.outputs))]
        ret = outs[0] if len(outs) == 1 else tuple(outs)
        if _REFILL and all(t.dtype == 1 or t.dtype == 3 for t in self.outputs):  # one byte a value: kept, refilled
            self._outs, self._ret = outs, ret
            if n == 1 and len(outs) == 1 and self.inputs[0].dtype in (1, 3):
                self._fast = (self._data[self.input_ids[0]], self._data[self.output_ids[0]], ret)
                self.run = self._run1  # this model's run() from now on
        return ret

    def _run1(self, x):
        # run() of a model of one input and one output of bytes, after its first run(): no allocation, no
        # varargs call (~1,000 instructions less)
        fast = self._fast  # (input's bytes, output's bytes, run()'s output array)
        try:
            fast[0][_ALL] = x  # bytes, bytearray, array('b'), memoryview of the input's length
        except Exception:  # a list, another length or array type: checked, converted or refused
            return Model.run(self, x)
        for fn, a in self._steps:
            fn(a)
        fast[2][_ALL] = fast[1]
        return fast[2]

    def invoke(self):
        """Runs one inference on what the input buffers hold (input_buffer); the results are in
        the output buffers (output_buffer)."""
        for fn, a in self._steps:
            fn(a)

    def input_buffer(self, k=0):
        """The bytes of input k, in the arena: fill it (e.g. with f.readinto) then call invoke()."""
        return self._data[self.input_ids[_which(k, self.input_ids, "input")]]

    def output_buffer(self, k=0):
        """The bytes of output k, in the arena (a memoryview, no copy), valid until the next
        inference; output(k) gives them as int8 values (array('b'))."""
        return self._data[self.output_ids[_which(k, self.output_ids, "output")]]

    def profile(self, *xs):
        """Like run(), measuring each op: returns (outputs, [(op index, µs, heap bytes in use after
        it)], peak heap bytes in use). The heap figures are gc.mem_alloc() after a collection."""
        from tinyml.profiling import profile  # this, predict() and summary() are loaded only when called
        return profile(self, xs)

    def predict(self, *values):
        """Like run(), on real numbers: quantizes the inputs and dequantizes the outputs (lists of floats)."""
        from tinyml.about import predict
        return predict(self, values)

    def macs(self, op):
        return op_macs(op, self.tensors)

    def __repr__(self):
        from tinyml.about import describe  # its text is loaded only when asked for
        return describe(self)

    def reset(self):
        """Zeroes the activation arena (inputs, outputs, every intermediate) and resets the state of
        stateful ops (their variable tensors) to where TFLM's reset() leaves it, as just after load."""
        from tinyml.about import zero
        zero(self._arena)
        self._reset_state()
        _forget("stateful")

    def _reset_state(self):
        # a stateful op's state (variable tensors) where TFLM's reset() leaves it: int8 at its zero point
        for t in self.tensors:
            if t.variable:
                _use("stateful").reset(self)
                return

    def summary(self):
        from tinyml.about import summary
        summary(self)


def op_macs(op, tensors):
    """Multiply-accumulates of one op (0 for ops without a dot product)."""
    from tinyml.about import op_macs
    return op_macs(op, tensors)
