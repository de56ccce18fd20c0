# The supervisor process of an emulated board (started by supervisor.start(), run as a script with
# --supervise BOARD HEAP): owns the board's pty and relays it to the board proper (the unix port
# running firmware/boards/unix/repl.py, or QEMU with its UART on stdio); restarts the board when it
# ends (the unix board's soft reset; a QEMU exit), drops the board's output while no program has the
# pty open and holds it back while the reader is slow, and, for the unix board, turns a Ctrl-C from
# the host into SIGINT. Its log is build/boards/<board>/supervisor.log.
import json
import os
import pathlib
import select
import signal
import subprocess
import sys
import termios
import time
import tty

if __package__ in (None, ""):  # run as a script: make tinyml_host importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from tinyml_host.board import profiles as boards  # noqa: E402
from tinyml_host.emulators import supervisor  # noqa: E402


SOFT_RESET_MODES = {3: "raw", 4: "friendly"}  # the unix board's exit status for a soft reset


class _Supervisor:
    def __init__(self, name, heap):
        self.icount = name.endswith(supervisor.ICOUNT)  # the instance that counts instructions
        self.board = boards.load(name[:-len(supervisor.ICOUNT)] if self.icount else name)
        self.heap = heap
        self.sd = supervisor.state_dir(name)
        self.is_unix = self.board.emulator["kind"] == "unix"
        self.child = None
        self.ready = False  # the child printed something: it is up (and handles SIGINT)
        self.quick_exits = 0  # consecutive unexpected exits soon after a start

    def log(self, msg):
        sys.stdout.write("%s %s\n" % (time.strftime("%H:%M:%S"), msg))
        sys.stdout.flush()

    def write_state(self):
        st = {"pid": os.getpid(), "child": self.child.pid if self.child else None, "device": str(self.link),
              "pty": self.pts, "heap": self.heap, "board": self.board.name, "started": self.started}
        tmp = self.sd / "state.json.tmp"
        tmp.write_text(json.dumps(st))
        os.replace(tmp, self.sd / "state.json")

    def spawn(self, mode):
        cmd, cwd = supervisor.child_command(self.board, self.heap, mode, self.icount)

        def pdeathsig():  # the board goes when its supervisor goes, even on SIGKILL
            try:
                import ctypes
                ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
            except Exception:
                pass
        self.child = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT if self.is_unix else sys.stdout,
                                      preexec_fn=pdeathsig, bufsize=0)
        os.set_blocking(self.child.stdin.fileno(), False)
        os.set_blocking(self.child.stdout.fileno(), False)
        self.ready = False
        self.spawned = time.monotonic()
        self.write_state()
        self.log("started %s (pid %d): %s" % (self.board.name, self.child.pid, " ".join(cmd)))

    def stop_child(self):
        c, self.child = self.child, None
        if c is None:
            return
        if c.poll() is None:
            c.terminate()
            try:
                c.wait(3)
            except subprocess.TimeoutExpired:
                c.kill()
                c.wait()
        for f in (c.stdin, c.stdout):
            try:
                f.close()
            except OSError:
                pass

    def run(self):
        self.started = time.time()
        master, slave = os.openpty()
        tty.setraw(slave)
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~(termios.ECHO | termios.ECHONL)
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        self.pts = os.ttyname(slave)
        self.link = self.sd / "tty"
        tmp = self.sd / "tty.tmp"
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        os.symlink(self.pts, tmp)
        os.replace(tmp, self.link)
        os.close(slave)  # from now on, POLLHUP on the master means nobody has the device open
        os.set_blocking(master, False)

        stopping = []

        def on_signal(signum, frame):
            stopping.append(signum)
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, on_signal)

        self.spawn("friendly")
        to_child = bytearray()
        to_host = bytearray()
        connected = False
        last_check = 0.0
        poller = select.poll()
        try:
            while not stopping:
                rc = self.child.poll()
                if rc is not None:
                    # drain what it printed last (e.g. "MPY: soft reboot")
                    try:
                        tail = os.read(self.child.stdout.fileno(), 65536)
                    except OSError:
                        tail = b""
                    if connected:
                        to_host += tail
                    mode = SOFT_RESET_MODES.get(rc, "friendly") if self.is_unix else "friendly"
                    if not (self.is_unix and rc in SOFT_RESET_MODES):
                        self.log("%s ended with status %s; restarting it" % (self.board.name, rc))
                        quick = time.monotonic() - self.spawned < 2.0
                        self.quick_exits = self.quick_exits + 1 if quick else 0
                        if self.quick_exits >= 5:
                            self.log("%s keeps ending right after it starts: giving up" % self.board.name)
                            break
                        time.sleep(0.2 * self.quick_exits)
                    self.stop_child()
                    to_child.clear()
                    self.spawn(mode)
                now = time.monotonic()
                if not connected and now - last_check >= 0.05:
                    last_check = now
                    p = select.poll()
                    p.register(master, select.POLLIN)
                    ev = p.poll(0)
                    if not any(e & select.POLLHUP for _, e in ev):
                        connected = True
                cin, cout = self.child.stdin.fileno(), self.child.stdout.fileno()
                poller = select.poll()
                if len(to_host) < 65536 or not connected:
                    poller.register(cout, select.POLLIN)
                if to_child:
                    poller.register(cin, select.POLLOUT)
                if connected:
                    poller.register(master, select.POLLIN | (select.POLLOUT if to_host else 0))
                events = poller.poll(50 if not connected else 500)
                for fd, ev in events:
                    if fd == master:
                        if ev & select.POLLIN:
                            try:
                                data = os.read(master, 65536)
                            except BlockingIOError:
                                data = None
                            except OSError:  # EIO: the last reader closed the device
                                data = b""
                            if data:
                                if self.is_unix and self.ready and b"\x03" in data:
                                    try:
                                        self.child.send_signal(signal.SIGINT)
                                    except OSError:
                                        pass
                                to_child += data
                            elif data == b"":
                                connected = False
                        if ev & select.POLLOUT and to_host and connected:
                            try:
                                n = os.write(master, to_host)
                                del to_host[:n]
                            except BlockingIOError:
                                pass
                            except OSError:
                                connected = False
                        if ev & (select.POLLHUP | select.POLLERR) and not ev & select.POLLIN:
                            connected = False
                        if not connected:
                            to_host.clear()
                            try:
                                termios.tcflush(master, termios.TCIOFLUSH)
                            except termios.error:
                                pass
                    elif fd == cout:
                        try:
                            data = os.read(cout, 65536)
                        except BlockingIOError:
                            continue
                        except OSError:
                            data = b""
                        if data:
                            self.ready = True
                            if connected:
                                to_host += data
                    elif fd == cin:
                        try:
                            n = os.write(cin, to_child)
                            del to_child[:n]
                        except BlockingIOError:
                            pass
                        except OSError:  # the child is going; poll() sees it next round
                            to_child.clear()
        finally:
            self.stop_child()
            for f in (self.sd / "tty", self.sd / "state.json"):
                try:
                    if f.name != "tty" or os.readlink(f) == self.pts:
                        os.unlink(f)
                except OSError:
                    pass
            os.close(master)
            self.log("stopped (signal %s)" % (stopping[0] if stopping else "-"))


def _main(argv):
    if len(argv) == 3 and argv[0] == "--supervise":
        _Supervisor(argv[1], int(argv[2])).run()
        return 0
    print("usage: relay.py --supervise BOARD HEAP_BYTES   (use `tinyml board start BOARD`)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
