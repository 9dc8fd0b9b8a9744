"""A worker entry point that dies at once, for the supervisor's crash-loop test."""

from __future__ import annotations

import os
import socket
from multiprocessing.connection import Connection


def crash(sock: socket.socket, beats: Connection, interval: float) -> None:
    os._exit(3)
