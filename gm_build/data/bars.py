"""The download bar: tqdm on a terminal; on a log (not a tty) one plain line at least every 30 s.

tqdm redraws one line with carriage returns, which a log file or CI shows as one ever-growing line (or
nothing until the end); :class:`DownloadBar` prints whole lines there instead. huggingface_hub takes it as
``tqdm_class``, so the Hub's downloads and the direct ones look alike.
"""

from __future__ import annotations

import sys

from tqdm.auto import tqdm

__all__ = ["DownloadBar", "LOG_INTERVAL_S"]

LOG_INTERVAL_S = 30.0  # a line at least this often on a log, well inside the 60 s a reader waits for a sign of life


class DownloadBar(tqdm):
    """Bytes, rate and time left; pass ``desc`` (the file) and ``total`` (bytes) as to tqdm."""

    def __init__(self, *args, **kwargs):
        file = kwargs.get("file") or sys.stderr
        self._log = not (hasattr(file, "isatty") and file.isatty())
        kwargs.setdefault("unit", "B")
        kwargs.setdefault("unit_scale", True)
        kwargs.setdefault("unit_divisor", 1024)
        kwargs.pop("name", None)  # huggingface_hub's progress-bar group name; plain tqdm does not take it
        if self._log:
            kwargs.update(mininterval=LOG_INTERVAL_S, ascii=True, dynamic_ncols=False, ncols=100)
        kwargs["disable"] = False
        super().__init__(*args, **kwargs)

    def display(self, msg=None, pos=None):
        if not self._log:
            return super().display(msg, pos)
        self.fp.write(self.__str__() + "\n")  # a whole line per update on a log
        self.fp.flush()
        return True
