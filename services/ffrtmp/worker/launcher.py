"""How ffmpeg is started so that it dies with its worker."""

from __future__ import annotations

import os
import sys

# ffmpeg runs in a session of its own, so signals aimed at the worker do not reach
# it; but then a killed worker would leave it running beside the job's next
# attempt. This launcher asks the kernel to SIGKILL it when the worker dies
# (PR_SET_PDEATHSIG survives exec), then becomes ffmpeg. It is a separate
# interpreter because a fork hook in the worker would run inside grpc's threads.
_LAUNCHER = (
    "import ctypes,os,sys\n"
    "ctypes.CDLL(None,use_errno=True).prctl(1,9)\n"
    "if os.getppid()!=int(sys.argv[1]):os._exit(137)\n"  # the worker died before prctl
    "os.execv(sys.argv[2],sys.argv[2:])\n"
)


def launch_argv(argv: list[str]) -> list[str]:
    if not sys.platform.startswith("linux"):
        return argv
    return [sys.executable, "-S", "-c", _LAUNCHER, str(os.getpid()), *argv]
