"""Issue 10, model files: hostile and broken .tml files never crash, hang or corrupt a board; the
loader's validation (tinyml/tmlfile.py, tinyml/validate.py) rejects them with ModelFileError naming
the record and field. On the real MicroPython unix port per backend, and on qemu-m3 over its serial
link, with the fuzzer of the project (tinyml_host/apps/fuzz.py + device_lib/programs/fuzz_cases.py)."""
import json

import pytest

from tinyml_host.apps import fuzz
from tinyml_host.model.tmlfile import VERSION
from tinyml import ops

CASES = 2000  # CRC-valid structure-aware mutations per backend (make fuzz runs more)
BOARD_CASES = 100  # per backend on qemu-m3

# what each reproducer's error names (record and field)
SAYS = {
    "conv_as_depthwise": "op 0 (DEPTHWISE_CONV_2D): n_params 10, expected 11",
    "huge_dim": "tensor 1: dims[1] 1048576 out of range 1..65535",
    "wrong_channels": "tensor 6: nbytes 4000, but int8 of shape 1x25x20x256 is 128000 bytes",
    "short_nbytes": "tensor 6: nbytes 31, but int8 of shape 1x25x20x8 is 4000 bytes",
    "softmax_as_concat": "op 3 (CONCATENATION): 3 parameters for 1 inputs, expected 2",
    "header_size": "header: header_size 64, version %d's is 32" % VERSION,
}


@pytest.fixture(scope="module")
def tmls(tmp_path_factory):
    return fuzz.convert_models(tmp_path_factory.mktemp("fuzz"))


def opcodes():
    return [r[0] for r in ops.rows()]


@pytest.mark.parametrize("backend", fuzz.BACKENDS)
def test_issue_reproducers_end_in_model_file_error(tmls, backend):
    repro = fuzz.reproducers(tmls)
    assert sorted(repro) == sorted(SAYS)
    for name, (model, case) in repro.items():
        kind, said = fuzz.run_unix(tmls[model], backend, [(0, case)], timeout=20)[0]
        assert kind == "mfe" and SAYS[name] in said, (name, case[0], said)


@pytest.mark.parametrize("backend", fuzz.BACKENDS)
def test_bounded_fuzz_campaign_on_the_unix_port(tmls, backend, tmp_path):
    """CASES mutations of three converted models: no crash, hang or memory corruption, and at least
    99 % of the rejected files rejected with ModelFileError (or the native module's ValueError)."""
    results = {}
    for k, name in enumerate(fuzz.MODELS):
        n = CASES // len(fuzz.MODELS) + (1 if k < CASES % len(fuzz.MODELS) else 0)
        batch = list(enumerate(fuzz.cases(tmls[name].read_bytes(), n, 10 + k, opcodes())))
        got = fuzz.run_unix(tmls[name], backend, batch, timeout=20)
        saved = fuzz.save_failures(tmp_path, name, backend, 10 + k, batch, got)
        results.update(("%s/%d" % (name, i), v) for i, v in got.items())
        assert not [p for p in saved if json.loads(p.read_text())["kind"] != "err"], [p.read_text() for p in saved]
    s = fuzz.summarize(results)
    assert s["cases"] == CASES
    assert s["crash"] == s["hang"] == s["corrupt"] == 0, fuzz.format_summary(s)
    assert s["mfe"] > CASES // 2, fuzz.format_summary(s)  # the mutations do reach the loader's checks
    assert s["designed_share"] >= 0.99, fuzz.format_summary(s)


OP_CASES = 40  # per op of the table and backend


@pytest.mark.parametrize("backend", fuzz.BACKENDS)
def test_every_op_of_the_table_survives_fuzzing(backend, tmp_path):
    """Each op's single-op model (tests/op_models.py; test_qemu_esp32 names an op without one),
    converted and mutated OP_CASES times: every row's check (tinyml/validate.py) keeps its kernels
    from crashing or hanging, and rejects with ModelFileError."""
    import numpy as np
    import op_models
    from tinyml_host.model.convert import convert
    results, fuzzed = {}, []
    for row in ops.rows():
        try:
            tflite, _ = op_models.single_op(row[1], np.random.default_rng(5))
        except KeyError:
            continue
        src = tmp_path / (row[1] + ".tflite")
        src.write_bytes(tflite)
        tml = tmp_path / (row[1] + ".tml")
        tml.write_bytes(convert(str(src)))
        batch = list(enumerate(fuzz.cases(tml.read_bytes(), OP_CASES, 77, opcodes())))
        got = fuzz.run_unix(tml, backend, batch, timeout=20)
        results.update(("%s/%d" % (row[1], i), v) for i, v in got.items())
        bad = {batch[i][1][0]: v for i, v in got.items() if v[0] in ("err", "crash", "hang", "corrupt")}
        assert not bad, (row[1], bad)
        fuzzed.append(row[1])
    s = fuzz.summarize(results)
    assert len(fuzzed) >= 40 and s["mfe"] > len(results) // 2, (fuzzed, fuzz.format_summary(s))


def test_cases_are_reproducible_and_crc_valid(tmls):
    import struct
    import zlib
    data = tmls["mnist_valid_q"].read_bytes()
    a, b = fuzz.cases(data, 50, 3, opcodes()), fuzz.cases(data, 50, 3, opcodes())
    assert a == b and a != fuzz.cases(data, 50, 4, opcodes())
    for what, size, patches in a:
        buf = bytearray(data[:size]) + bytearray(max(0, size - len(data)))
        for off, p in patches:
            buf[off:off + len(p)] = p
        assert struct.unpack_from("<II", buf, 8) == (size, zlib.crc32(bytes(buf[16:]))), what


# A device library that crashes (a real SIGSEGV, from viper) or hangs on a marked file, to show that
# the fuzzer counts what it must count, restarts after it, and saves the case for a replay.
BROKEN_MODEL = '''
import micropython


class Model:
    def __init__(self, source, backend=None, name="model", window=None):
        data = source.read() if hasattr(source, "read") else source
        if data[40] == 0xEE:
            _segv()
        if data[40] == 0xDD:
            while True:
                pass
        self.inputs = []

    def run(self, *xs):
        return b""

    def reset(self):  # the fuzzer resets its clean model before each check run (a stateful model's state)
        pass


@micropython.viper
def _segv():
    p = ptr32(0)
    p[0] = 1
'''


def test_fuzzer_counts_crashes_and_hangs_and_replays_them(tmls, tmp_path):
    lib = tmp_path / "lib"
    (lib / "tinyml").mkdir(parents=True)
    (lib / "tinyml" / "__init__.py").write_text("")
    (lib / "tinyml" / "tmlfile.py").write_text("class ModelFileError(ValueError):\n    pass\n")
    (lib / "tinyml" / "model.py").write_text(BROKEN_MODEL)
    data = tmls["hello_world_int8"].read_bytes()
    crash = fuzz.fixed(data, "crash", len(data), [(40, b"\xee")])
    hang = fuzz.fixed(data, "hang", len(data), [(40, b"\xdd")])
    fine = fuzz.fixed(data, "fine", len(data), [(41, b"\x01")])
    batch = [(0, fine), (1, crash), (2, fine), (3, hang), (4, fine)]
    got = fuzz.run_unix(tmls["hello_world_int8"], "python", batch, timeout=3, lib=lib)
    assert [got[i][0] for i in range(5)] == ["ok", "crash", "ok", "hang", "ok"], got
    assert "-11" in got[1][1]
    saved = fuzz.save_failures(tmp_path / "saved", "hello_world_int8", "python", 0, batch, got)
    assert len(saved) == 2
    assert fuzz.replay(saved[0], 3, lib, tmls["hello_world_int8"].parent)[0] == "crash"


def test_qemu_m3_reproducers_and_fuzz_over_the_serial_link(tmls):
    """The reproducers and BOARD_CASES mutations per backend on the emulated Cortex-M3 board: each
    reproducer ModelFileError, no crash (HardFault), hang or corruption, and the board still answers."""
    from tinyml_host.board import run as board_run
    from tinyml_host.emulators import supervisor as emulators
    started = emulators.running("qemu-m3") is None
    restarts = []

    def open_board(model):
        link, _ = board_run.connect("qemu-m3", start=emulators.start)
        return link, board_run.prepare(link, "qemu-m3", str(tmls[model]))

    def reopen(model):  # after a crash: the emulator started again, tinyml and the model deployed again
        restarts.append(model)
        emulators.stop("qemu-m3")
        return open_board(model)[0]

    try:
        repro = fuzz.reproducers(tmls)
        for model in sorted({m for m, _ in repro.values()}):
            mine = [(name, case) for name, (m, case) in repro.items() if m == model]
            link, remote = open_board(model)
            for backend in fuzz.BACKENDS:
                got, link = fuzz.run_board(lambda: reopen(model), remote, backend,
                                           [(i, case) for i, (_, case) in enumerate(mine)], link)
                for i, (name, _) in enumerate(mine):
                    assert got[i][0] == "mfe" and SAYS[name] in got[i][1], (model, backend, name, got[i])
                assert link.exec("print(1 + 1)").strip() == "2"
            link.close()
        results = {}
        link, remote = open_board("mnist_valid_q")
        for backend in fuzz.BACKENDS:
            batch = list(enumerate(fuzz.cases(tmls["mnist_valid_q"].read_bytes(), BOARD_CASES, 20, opcodes())))
            got, link = fuzz.run_board(lambda: reopen("mnist_valid_q"), remote, backend, batch, link)
            results.update(("%s/%d" % (backend, i), v) for i, v in got.items())
            assert link.exec("print(1 + 1)").strip() == "2"
        link.close()
        s = fuzz.summarize(results)
        assert s["cases"] == 3 * BOARD_CASES
        assert s["crash"] == s["hang"] == s["corrupt"] == 0 and not restarts, fuzz.format_summary(s)
        assert s["designed_share"] >= 0.99, fuzz.format_summary(s)
    finally:
        if started:
            emulators.stop("qemu-m3")
