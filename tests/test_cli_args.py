"""Bad command-line arguments and input files get a message that names the option and the fix, before
any board is touched; a unix-port MicroPython that a signal kills says which signal and what to try."""
import pathlib

import numpy as np
import pytest

from tinyml_host.board import unix
from tinyml_host.cli import main as cli
from tinyml_host.errors import BoardError

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODEL = str(ROOT.parent / "shared" / "models" / "tflm" / "hello_world_int8.tflite")


def error_of(argv, capsys):
    """The exit status and stderr of `tinyml argv...` (an argparse refusal exits through SystemExit)."""
    try:
        status = cli.main(argv)
    except SystemExit as e:
        status = e.code
    return status, capsys.readouterr().err


def test_zero_case_npy_names_the_input(tmp_path, capsys):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((0, 1), np.int8))
    status, err = error_of(["run", MODEL, "--input", str(x), "--output", str(tmp_path / "y.npy"), "--board", "unix"],
                           capsys)
    assert status == 2, err
    assert "--input %s holds 0 cases, no case to run" % x in err and "fix: save the cases with numpy" in err, err
    assert "reshape" not in err


def test_text_file_named_npy_is_called_a_text_file(tmp_path, capsys):
    x = tmp_path / "x.npy"
    x.write_text("0.1, 0.2, 0.3\n")
    status, err = error_of(["run", MODEL, "--input", str(x), "--output", str(tmp_path / "y.npy"), "--board", "unix"],
                           capsys)
    assert status == 2, err
    assert "--input %s is a text file, not a NumPy .npy array" % x in err and "np.save(" in err, err
    assert "pickled" not in err.split("(")[0]
    x.write_bytes(b"\x00\x01\x02\x03\xff" * 4)
    status, err = error_of(["run", MODEL, "--input", str(x), "--output", str(tmp_path / "y.npy")], capsys)
    assert status == 2 and "is not a .npy file (it starts with b'\\x00\\x01" in err, err


@pytest.mark.parametrize("argv,named", [
    (["--heap", "abc"], "argument --heap: 'abc' is not a heap size"),
    (["--heap", "0"], "argument --heap: '0' is not a heap size"),
    (["--window", "abc"], "argument --window: 'abc' is not a weight window"),
    (["--window", "-5"], "argument --window: '-5' is not a weight window"),
])
def test_bad_heap_and_window_name_the_option_and_the_fix(tmp_path, capsys, argv, named):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 1), np.int8))
    status, err = error_of(["run", MODEL, "--input", str(x), "--output", str(tmp_path / "y.npy"), "--board", "unix"]
                           + argv, capsys)
    assert status == 2 and named in err, err
    assert ("e.g. --heap 140K" if "heap" in named else "e.g. --window 2048") in err
    assert not (tmp_path / "y.npy").exists()


def test_heap_and_window_accept_what_the_help_says():
    from tinyml_host.cli.commands import heap_size, window_bytes
    assert [heap_size(t) for t in ("140K", "2M", "65536", "512k")] == ["140K", "2M", "65536", "512k"]
    assert [window_bytes(t) for t in ("2048", "0", "none", "ALL")] == ["2048", "0", "none", "all"]


@pytest.mark.parametrize("sig,name,advice", [(11, "SIGSEGV", "--backend python"), (8, "SIGFPE", "division by zero"),
                                             (9, "SIGKILL", "out-of-memory killer")])
def test_micropython_killed_by_a_signal_says_which_and_what_to_try(sig, name, advice):
    with pytest.raises(BoardError) as e:  # real MicroPython, a real signal: its shell child sends it to its parent
        unix.exec_script("print('loading')\nimport os\nos.system('kill -%d $PPID')\nprint('not reached')" % sig)
    msg = str(e.value)
    assert "was killed by %s (signal %d)" % (name, sig) in msg and "loading" in msg and "not reached" not in msg, msg
    assert "fix: " in msg and advice in msg, msg
