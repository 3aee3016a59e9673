"""`tfcomp decompress` decodes in a child process with a deadline, so that no file can hang or crash it.

tensorflow-compression's range decoder reads an escaped value's Elias-gamma prefix in an unbounded loop, and a
crafted string makes it read zero bits forever (a 62-byte file hangs a TensorFlow op, which nothing in the
process can interrupt). The parent process, which never imports TensorFlow, sends each file to a worker that
keeps the models loaded; if the worker has not finished a file in time (DEADLINE_S plus S_PER_MEGAPIXEL for
its size, in CPU seconds, counted once its model is loaded and warmed up), or dies, the parent kills it,
reports one error for that file, and starts another worker for the next.
"""
from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import time
from typing import Callable

from tfcomp.errors import TfcompError

# The deadline, in the worker's CPU time: legitimate decoding takes 1-10 CPU seconds per megapixel with the
# widest shipped models.
DEADLINE_S = 5.0
S_PER_MEGAPIXEL = 20.0
_LENGTH = struct.Struct(">Q")


def _send(stream, message) -> None:
    data = pickle.dumps(message)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def _read(stream, size: int) -> bytes:
    """Exactly `size` bytes; EOFError if the stream ends first."""
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _receive(stream):
    return pickle.loads(_read(stream, _LENGTH.unpack(_read(stream, _LENGTH.size))[0]))


class Decoder:
    """A worker process that decodes files for this process, restarted after a failure it cannot report."""

    def __init__(self):
        self.process = None

    def _start(self) -> None:
        # Unbuffered: select() sees every byte the worker wrote, none hides in a buffer of this process.
        self.process = subprocess.Popen([sys.executable, "-m", "tfcomp.cli.sandbox"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, bufsize=0,
                                        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})

    def _wait(self, deadline: float | None):
        """The worker's next message; None when the deadline passed first. EOFError when it died."""
        stream = self.process.stdout
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not select.select([stream], [], [], timeout)[0]:
            return None
        return _receive(stream)

    def _cpu_seconds(self) -> float:
        """CPU time the worker has used: a deadline in CPU time holds on a busy machine too, where a
        legitimate decode takes longer in wall time, and a hang uses a CPU all the time."""
        try:
            with open(f"/proc/{self.process.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        except (OSError, ValueError, IndexError):  # no /proc: wall time instead
            return time.monotonic()

    def decode(self, source: str, output: str, max_pixels: int, tile: int | None, force: bool) -> str:
        """Decodes `source` into `output` in the worker; the line to print, or TfcompError."""
        if self.process is None or self.process.poll() is not None:
            self._start()
        try:
            _send(self.process.stdin, (source, output, max_pixels, tile, force))
            message = self._wait(None)  # reading the file and loading its model
            if message[0] == "decoding":
                budget = DEADLINE_S + S_PER_MEGAPIXEL * message[1] / 1e6
                start = self._cpu_seconds()
                while (message := self._wait(time.monotonic() + 0.25)) is None:
                    if self._cpu_seconds() - start > budget:
                        self.close()
                        raise TfcompError(f"{source}: decoding did not finish in {budget:.0f} s of CPU time "
                                          "(a corrupt or hostile file; stopped)")
        except (EOFError, BrokenPipeError):
            code = self.process.wait()
            self.process = None
            reason = f"signal {-code}" if code < 0 else f"exit status {code}"
            raise TfcompError(f"{source}: the decoder died ({reason})") from None
        if message[0] == "error":
            raise TfcompError(message[1])
        return message[1]

    def close(self) -> None:
        """Stops the worker."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None


def decode_to_file(source: str, output: str, max_pixels: int, tile: int | None, force: bool,
                   started: Callable[[int], None] = lambda pixels: None) -> str:
    """Decodes one file into an image file (what a sandbox worker does); started(pixels) is called once the
    file is parsed and its model loaded and warmed up. The line to print."""
    from tfcomp import registry
    from tfcomp.codecs import container, learned
    from tfcomp.data import images

    c = container.unpack(images.read_bytes(source))
    codec = registry.codec_for_file(c, max_pixels, tile)
    if isinstance(codec, learned.LearnedCodec):
        codec.warm_up()
    started(c.height * c.width)
    image = codec.decode_container(c)
    data = images.image_bytes(image, images.output_format(output), grayscale=c.channels == 1)
    images.atomic_write(output, data, overwrite=force)
    return f"{source} -> {output}: {c.width}x{c.height}, model {c.model}"


def _serve() -> None:
    """The worker: decodes the files it is sent, one at a time, telling the parent when the decoding starts."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but messages on the pipe
    while True:
        try:
            source, output, max_pixels, tile, force = _receive(requests)
        except EOFError:
            return
        try:
            line = decode_to_file(source, output, max_pixels, tile, force,
                                started=lambda pixels: _send(replies, ("decoding", pixels)))
            _send(replies, ("done", line))
        except TfcompError as error:
            _send(replies, ("error", str(error)))
        except Exception as error:  # a bug, not the file's fault: still one line for the parent to report
            _send(replies, ("error", f"{source}: internal error ({type(error).__name__}: {error})"))


if __name__ == "__main__":
    _serve()
