"""The child side of the Python worker pool: a long-lived process that runs callables.

Started as ``python worker.py FD`` (or ``-m tui_build.runners.worker FD``) with FD one end of a
Unix socket pair. It imports nothing from tuibuild and only the standard library, so it starts
fast. For each request the parent sends two pipe write ends with the pickled request; they become
fd 1 and fd 2 while the callable runs, so its prints, its ``sys.stderr`` writes and the output of
the subprocesses it starts all stream back, each on its own pipe. Then fd 1 and 2 go back to
/dev/null (the parent sees EOF) and a pickled reply follows on the socket.

Messages both ways are an 8-byte big-endian length and a pickle of builtins only, so the parent
needs none of this module's types. The worker exits on EOF of the socket, or if its parent dies.
"""

from __future__ import annotations

import contextlib
import faulthandler
import importlib
import itertools
import os
import pickle
import reprlib
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from types import ModuleType, TracebackType
from typing import Any

HEADER = struct.Struct(">Q")
RESULT_LIMIT = 2000

_THIS_FILE = os.path.abspath(__file__)


def encode(message: Any) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(payload)) + payload


def _receive(sock: socket.socket) -> tuple[dict[str, Any], list[int]] | None:
    """The next request and the fds that came with it; None at EOF."""
    data, fds, _, _ = socket.recv_fds(sock, 65536, 2)
    if not data:
        return None
    while len(data) < HEADER.size:
        more = sock.recv(HEADER.size - len(data))
        if not more:
            return None
        data += more
    (size,) = HEADER.unpack_from(data)
    body = bytearray(data[HEADER.size :])
    while len(body) < size:
        more = sock.recv(min(size - len(body), 1 << 20))
        if not more:
            return None
        body += more
    return pickle.loads(body), fds


class _UserModules:
    """Modules imported from task roots, forgotten all together when one of their files changes.

    A re-run after an edit must run the edited code; dropping every user module (not reloading
    one) also refreshes the helpers it imported. Bytecode is not written: a pyc records the
    source's mtime in whole seconds, so an edit within the same second would go unnoticed.
    """

    def __init__(self) -> None:
        self.stamps: dict[str, tuple[str, int, int]] = {}
        self._others: set[str] = set()
        self._library = tuple(
            os.path.join(os.path.realpath(p), "")
            for p in {sys.prefix, sys.exec_prefix, sys.base_prefix}
        )

    def forget_if_changed(self) -> None:
        changed = False
        for path, mtime, size in self.stamps.values():
            try:
                stat = os.stat(path)
            except OSError:
                changed = True
                break
            if (stat.st_mtime_ns, stat.st_size) != (mtime, size):
                changed = True
                break
        if changed:
            for name in self.stamps:
                sys.modules.pop(name, None)
            self.stamps.clear()
            self._others.clear()
        importlib.invalidate_caches()

    def remember(self, root: str) -> None:
        prefix = os.path.join(os.path.realpath(root), "")
        for name, module in list(sys.modules.items()):
            if name in self.stamps or name in self._others:
                continue
            path = getattr(module, "__file__", None)
            real = os.path.realpath(path) if path else ""
            if (
                not real.startswith(prefix)
                or real.startswith(self._library)
                or "site-packages" in real.split(os.sep)
            ):
                self._others.add(name)
                continue
            try:
                stat = os.stat(real)
            except OSError:
                continue
            self.stamps[name] = (real, stat.st_mtime_ns, stat.st_size)


_IMPORTLIB_FILE = importlib.__file__


def _internal(filename: str) -> bool:
    return filename in (_THIS_FILE, _IMPORTLIB_FILE) or filename.startswith("<frozen importlib")


def _user_traceback(tb: TracebackType | None) -> TracebackType | None:
    """The traceback without this module's and importlib's frames (tb_next is writable)."""
    kept: list[TracebackType] = []
    while tb is not None:
        if not _internal(tb.tb_frame.f_code.co_filename):
            kept.append(tb)
        tb = tb.tb_next
    for before, after in itertools.pairwise(kept):
        before.tb_next = after
    if kept:
        kept[-1].tb_next = None
    return kept[0] if kept else None


def _type_name(exc: BaseException) -> str:
    cls = type(exc)
    if cls.__module__ in ("builtins", "__main__"):
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc).strip().splitlines()
    except Exception:
        text = ["<exception str() failed>"]
    return f"{_type_name(exc)}: {text[0]}" if text else _type_name(exc)


def _exception_reply(exc: BaseException, message: str | None = None) -> dict[str, Any]:
    tb = _user_traceback(exc.__traceback__)
    exc.__traceback__ = tb
    frames = [
        (frame.filename, frame.lineno or 0, frame.name, frame.line or "")
        for frame in traceback.extract_tb(tb)
    ]
    if isinstance(exc, SyntaxError) and exc.filename:
        frames.append((exc.filename, exc.lineno or 0, "<module>", (exc.text or "").strip()))
    exit_code = exc.code if isinstance(exc, SystemExit) and isinstance(exc.code, int) else None
    return {
        "status": "exception",
        "message": message or _describe(exc),
        "type": _type_name(exc),
        "traceback": "".join(traceback.format_exception(type(exc), exc, tb)),
        "frames": frames,
        "exit_code": exit_code,
        "retire": isinstance(exc, KeyboardInterrupt),
    }


def _short_repr(value: Any) -> str:
    shortener = reprlib.Repr()
    shortener.maxlevel = 4
    shortener.maxstring = shortener.maxother = RESULT_LIMIT
    shortener.maxlist = shortener.maxtuple = shortener.maxdict = 100
    shortener.maxset = shortener.maxfrozenset = shortener.maxdeque = shortener.maxarray = 100
    shortener.maxlong = 200
    try:
        text = shortener.repr(value)
    except Exception as exc:
        text = f"<{type(value).__name__} object; repr failed: {_describe(exc)}>"
    return text if len(text) <= RESULT_LIMIT else text[: RESULT_LIMIT - 3] + "..."


def _resolve(module: ModuleType, name: str) -> Any:
    target: Any = module
    for part in name.split("."):
        target = getattr(target, part)
    return target


class Worker:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.devnull = os.open(os.devnull, os.O_RDWR)
        self.base_path = list(sys.path)
        self.modules = _UserModules()

    def serve(self) -> None:
        while True:
            got = _receive(self.sock)
            if got is None:
                return
            request, fds = got
            reply = self.handle(request, fds)
            self.sock.sendall(encode(reply))
            if reply.get("retire"):
                return

    def handle(self, request: dict[str, Any], fds: list[int]) -> dict[str, Any]:
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            return {"status": "error", "message": f"expected 2 pipes, got {len(fds)}"}
        for target, fd in zip((1, 2), fds, strict=True):
            os.dup2(fd, target)
            os.close(fd)
        try:
            return self.call(request)
        except BaseException as exc:
            return _exception_reply(exc)
        finally:
            self.restore_output()

    def restore_output(self) -> None:
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            with contextlib.suppress(Exception):  # the parent closed the pipe early
                stream.flush()  # type: ignore[union-attr]
        _flush_c_stdio()
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        os.dup2(self.devnull, 1)
        os.dup2(self.devnull, 2)

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        call: str = request["call"]
        root: str = request["root"]
        os.environ.clear()
        os.environ.update(request["env"])
        # Line buffering even under PYTHONUNBUFFERED: as prompt, and one write per line, not
        # one per print() argument (each write may become its own output event).
        for stream in (sys.stdout, sys.stderr):
            stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        cwd: str = request["cwd"]
        try:
            os.chdir(cwd)
        except FileNotFoundError:
            return {"status": "start-error", "message": f"working directory does not exist: {cwd}"}
        except OSError as exc:
            message = f"cannot enter working directory {cwd}: {exc.strerror}"
            return {"status": "start-error", "message": message}
        sys.path[:] = [root, *self.base_path]
        sys.argv[:] = [call]
        module_name, _, function_name = call.partition(":")
        self.modules.forget_if_changed()
        try:
            module = importlib.import_module(module_name)
        except BaseException as exc:
            self.modules.remember(root)
            message = f"cannot import module {module_name!r} from {root}: {_describe(exc)}"
            return _exception_reply(exc, message)
        self.modules.remember(root)
        try:
            function = _resolve(module, function_name)
        except AttributeError:
            function = None
        if not callable(function):
            message = f"module {module_name!r} has no function {function_name!r}"
            return {"status": "error", "message": message}
        try:
            result = function(*request["args"], **request["kwargs"])
        except SystemExit as exc:
            if exc.code is None or exc.code == 0:
                return {"status": "ok", "result": None}
            return _exception_reply(exc)
        except BaseException as exc:
            return _exception_reply(exc)
        finally:
            self.modules.remember(root)
        return {"status": "ok", "result": None if result is None else _short_repr(result)}


_libc_fflush: Any = None


def _flush_c_stdio() -> None:
    """Flush C stdio too: output an extension buffered must not leak into the next task."""
    global _libc_fflush
    try:
        if _libc_fflush is None:
            import ctypes

            _libc_fflush = ctypes.CDLL(None).fflush
        _libc_fflush(None)
    except Exception:
        pass


def _watch_parent(parent: int) -> None:
    # The socket reports the parent's death only between tasks; a task may run for hours.
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os.killpg(0, signal.SIGKILL)


def main(argv: list[str]) -> int:
    fd = int(argv[1])
    here = os.path.dirname(_THIS_FILE)
    # Run as a script, this folder is sys.path[0]: keep its modules from shadowing the user's.
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    os.set_inheritable(fd, False)
    sock = socket.socket(fileno=fd)
    sys.dont_write_bytecode = True
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(encoding="utf-8", errors="backslashreplace")  # type: ignore[union-attr]
    faulthandler.enable(all_threads=False)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    Worker(sock).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
