"""The converter's methods for TFLM's stateful ops (issue 12), the keyword models' svdf and the lstm,
int8 with TFLM's int16 state, every multiplier computed here as TFLM's Prepare computes it (float32
products where TFLM multiplies floats, double where it casts first). Their state tensors are written
variable (docs/model-format.md): the device keeps them across runs and resets them to their zero point.
A mixin of convert._Converter: it uses the converter's t, qp, activation, const, emit and fail."""
import math

import numpy as np

from tinyml_host.model import quantize as q
from tinyml_host.model.tflite_reader import ACTIVATIONS
from tinyml_host.model.tmlfile import TmlTensor

# TFLM's sigmoid_table_uint16 (tensorflow/lite/kernels/internal/common.h): sigmoid(i / 24) in 0.16
# fixed point, the table of its int16 Logistic and Tanh. It is no closed formula (its entries differ
# from every rounding of the exact values), so it is data; the LSTM op carries it as a constant input.
SIGMOID_TABLE_UINT16 = (
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794, 41432, 42064, 42688,
    43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409,
    51865, 52311, 52745, 53169, 53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433,
    57724, 58007, 58280, 58544, 58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110,
    61279, 61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186,
    63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308,
    64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900,
    64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208,
    65221, 65234, 65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360, 65367,
    65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433, 65438, 65442, 65445, 65449,
    65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491,
    65493, 65495, 65497, 65498, 65500, 65501, 65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513,
    65514, 65515, 65516, 65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530,
    65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533,
    65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535)

# UNIDIRECTIONAL_SEQUENCE_LSTM's inputs (TFLM's lstm_shared.h)
_LSTM_W_X, _LSTM_W_H, _LSTM_BIAS = range(1, 5), range(5, 9), range(12, 16)
_LSTM_UNUSED = {9: "peephole", 10: "peephole", 11: "peephole", 16: "projection", 17: "projection",
                20: "layer norm", 21: "layer norm", 22: "layer norm", 23: "layer norm"}
_LSTM_H, _LSTM_C = 18, 19


def _multiplier(real):
    m, s = q.quantize_multiplier(real)
    return int(m), int(s)


def _f32_product_over(a, b, c):
    # TFLM's float expression a * b / c (float32 throughout), then widened to double
    return float(np.float32(np.float32(a) * np.float32(b)) / np.float32(c))


class RecurrentOps:
    def _state(self, op, i, dtype):
        """The .tml index of a stateful op's state tensor (TFLite input i): a variable tensor."""
        t = self.t(i)
        if not t.is_variable or t.data is not None:
            self.fail(op, "input %d '%s' must be a variable tensor (the op's state), as TFLite's converter writes "
                      "it" % (op.inputs.index(i), t.name))
        if t.dtype != dtype:
            self.fail(op, "state '%s' is %s; tinyml runs %s with an %s state (TFLM's int8 kernel)"
                      % (t.name, t.dtype, op.name, np.dtype(dtype).name))
        if i not in self.index:
            scale, zp = (float(t.scale[0]), int(t.zero_point[0])) if len(t.scale) else (0.0, 0)
            self.index[i] = self._new(TmlTensor(t.name, dtype, t.shape, None, scale, zp, variable=True))
        return self.index[i]

    def _int8_io(self, op, *ts):
        for t in ts:
            if t.dtype != np.int8:
                self.fail(op, "tinyml runs %s on int8 tensors; '%s' is %s" % (op.name, t.name, t.dtype))

    def svdf(self, op):
        x, wf, wt, y = self.t(op.inputs[0]), self.t(op.inputs[1]), self.t(op.inputs[2]), self.t(op.outputs[0])
        st = self.t(op.inputs[4])
        self._int8_io(op, x, y)
        if wf.data is None or wf.dtype != np.int8 or wt.data is None:
            self.fail(op, "weights_feature must be constant int8 and weights_time constant")
        if wt.dtype not in (np.int16, np.int8) or st.dtype != wt.dtype:
            self.fail(op, "weights_time is %s and the state %s: TFLM runs this op int8 with int16 time weights and "
                      "state (TFLite's converter writes them so) or int8 ones" % (wt.dtype, st.dtype))
        if len(x.shape) != 2 or len(wf.shape) != 2 or len(wt.shape) != 2:
            self.fail(op, "input, weights_feature and weights_time must be 2-D")
        batch, n_in = x.shape
        n_filter, memory = wt.shape
        rank = int(op.options.get("rank", 0))
        if rank < 1 or n_filter % rank or tuple(wf.shape) != (n_filter, n_in):
            self.fail(op, "rank %d, weights_feature %s, weights_time %s do not fit input %s"
                      % (rank, tuple(wf.shape), tuple(wt.shape), tuple(x.shape)))
        n_unit = n_filter // rank
        if tuple(y.shape) != (batch, n_unit) or int(np.prod(st.shape)) != batch * n_filter * memory:
            self.fail(op, "output %s or state %s does not fit %d units of rank %d and memory %d"
                      % (tuple(y.shape), tuple(st.shape), n_unit, rank, memory))
        b = self.t(op.inputs[3]) if op.inputs[3] >= 0 else None
        bias = np.zeros(n_unit, np.int32) if b is None else np.asarray(b.data, np.int32).reshape(n_unit)
        if b is not None and (b.data is None or b.dtype != np.int32):
            self.fail(op, "bias must be a constant int32 tensor")
        s_scale, s_zp = float(st.scale[0]), int(st.zero_point[0])
        x_scale, x_zp = self.qp(x)
        y_scale, y_zp = self.qp(y)
        fm, fs = _multiplier(_f32_product_over(x_scale, wf.scale[0], s_scale))
        tm, ts = _multiplier(_f32_product_over(s_scale, wt.scale[0], y_scale))
        ins = [self.activation(op.inputs[0]), self.const(wf.name, wf.data, False), self.const(wt.name, wt.data, False),
               self.const(wf.name + "/bias", bias, False), self._state(op, op.inputs[4], wt.dtype.type)]
        self.emit(op, ins, [self.activation(op.outputs[0])], rank=rank, x_zp=x_zp, feature_multiplier=fm,
                  feature_shift=fs, state_zp=s_zp, time_multiplier=tm, time_shift=ts, y_zp=y_zp)

    def unidirectional_sequence_lstm(self, op):
        ins = list(op.inputs) + [-1] * (24 - len(op.inputs))
        x, y = self.t(ins[0]), self.t(op.outputs[0])
        self._int8_io(op, x, y)
        for i, what in _LSTM_UNUSED.items():
            if ins[i] >= 0:
                self.fail(op, "has %s tensors (input %d), which TFLM's LSTM kernel does not run: use a plain LSTM "
                          "layer" % (what, i))
        ws = [self.t(i) if i >= 0 else None for i in ins[1:9]]
        if any(w is None for w in ws):
            self.fail(op, "has no input gate (a CIFG LSTM), which TFLM's LSTM kernel does not run: use a plain "
                      "LSTM layer (Keras LSTM, PyTorch nn.LSTM)")
        if len(x.shape) != 3:
            self.fail(op, "input must be 3-D (batch, time, features), got %s" % (tuple(x.shape),))
        time_major = bool(op.options.get("time_major", False))
        steps, batch = (x.shape[0], x.shape[1]) if time_major else (x.shape[1], x.shape[0])
        if batch != 1:
            self.fail(op, "batch %d: tinyml runs the LSTM with batch 1 (convert with a fixed batch of 1: "
                      "keras.Input(..., batch_size=1))" % batch)
        n_in = x.shape[2]
        n = ws[0].shape[0]
        h, c = self.t(ins[_LSTM_H]), self.t(ins[_LSTM_C])
        for w in ws:
            if w.data is None or w.dtype != np.int8 or len(w.scale) != 1 or int(w.zero_point[0]) != 0:
                self.fail(op, "gate weights '%s' must be constant int8, one symmetric scale per tensor" % w.name)
        if any(tuple(w.shape) != (n, n_in) for w in ws[:4]) or any(tuple(w.shape) != (n, n) for w in ws[4:]):
            self.fail(op, "gate weights must be (%d, %d) from the input and (%d, %d) recurrent" % (n, n_in, n, n))
        if tuple(y.shape) != tuple(x.shape[:2]) + (n,):
            self.fail(op, "output %s does not fit input %s and %d cells" % (tuple(y.shape), tuple(x.shape), n))
        bs = [self.t(i) if i >= 0 else None for i in ins[12:16]]
        if any(b is None or b.data is None or b.dtype != np.int32 for b in bs):
            self.fail(op, "gate biases must be constant int32 tensors")
        if int(np.prod(h.shape)) != n or int(np.prod(c.shape)) != n or h.dtype != np.int8:
            self.fail(op, "hidden state %s (int8) and cell state %s must hold %d values" % (h.shape, c.shape, n))
        x_scale, x_zp = self.qp(x)
        h_scale, h_zp = float(h.scale[0]), int(h.zero_point[0])
        c_scale = float(c.scale[0]) if len(c.scale) else 0.0
        if c_scale <= 0:
            self.fail(op, "cell state has no scale")
        gate_in = 2.0 ** -12  # the gates' FC output: Q3.12
        wx = np.concatenate([w.data for w in ws[:4]]).astype(np.int8)
        wh = np.concatenate([w.data for w in ws[4:]]).astype(np.int8)
        bias_x = np.concatenate([b.data.astype(np.int64) for b in bs]) - x_zp * wx.astype(np.int64).sum(axis=1)
        bias_h = -h_zp * wh.astype(np.int64).sum(axis=1)
        bias = np.concatenate([bias_x, bias_h])
        if bias.min() < -2 ** 31 or bias.max() >= 2 ** 31:
            self.fail(op, "a gate bias with the input's zero point folded in overflows int32")
        pairs = [_multiplier(_f32_product_over(x_scale, w.scale[0], gate_in)) for w in ws[:4]]
        pairs += [_multiplier(_f32_product_over(h_scale, w.scale[0], gate_in)) for w in ws[4:]]
        gate_out = 2.0 ** -15  # the gates' activations: Q0.15
        fm, fs = _multiplier(gate_out * float(np.float32(c_scale)) / float(np.float32(c_scale)))
        im, is_ = _multiplier(gate_out * gate_out / float(np.float32(c_scale)))
        om, os_ = _multiplier(gate_out * gate_out / float(np.float32(h_scale)))
        # TFLM's CheckedLog2 (float32; a scale that is no power of two is rounded to one, unchecked)
        power = int(q.tflite_round(float(np.float32(np.float32(math.log(np.float32(c_scale)))
                                                    * np.float32(1.0 / math.log(2.0))))))
        left = 15 + power - 3  # TFLM's Tanh input scaling of the cell state
        tanh_m, tanh_s = (3 << left, 0) if left >= 0 else (3, -left)
        clip = float(op.options.get("cell_clip", 0.0))
        q_clip = 0  # TFLM's quantized_cell_clip: clip / scale in double, clamped, truncated to int16
        if clip > 0:
            q_clip = int(min(max(float(np.float32(clip)) / float(np.float32(c_scale)), -32768.0), 32767.0))
        tanh = ACTIVATIONS[4]  # TFLite's activations have no sigmoid; TFLM's kernel asserts on the others
        act = op.options.get("fused_activation_function", tanh)
        if act != tanh:
            self.fail(op, "cell activation %s: TFLM's LSTM kernel runs %s only" % (act, tanh))
        table = np.array(SIGMOID_TABLE_UINT16, np.uint16).view(np.int16)
        tml_ins = [self.activation(ins[0]), self.const(ws[0].name, wx, False),
                   self.const(ws[4].name, wh, False),
                   self.const(bs[0].name + "/bias_folded", bias.astype(np.int32), False),
                   self.const("sigmoid_table_uint16", table), self._state(op, ins[_LSTM_H], np.int8),
                   self._state(op, ins[_LSTM_C], np.int16)]
        self.emit(op, tml_ins, [self.activation(op.outputs[0])], gate_multiplier=[m for m, _ in pairs],
                  gate_shift=[s for _, s in pairs], forget_multiplier=fm, forget_shift=fs, input_multiplier=im,
                  input_shift=is_, output_multiplier=om, output_shift=os_, h_zp=h_zp, cell_clip=q_clip,
                  tanh_multiplier=tanh_m, tanh_shift=tanh_s)
