"""The YARN ResourceManager REST + WebHDFS emulator's parts; tests/yarn/rm_emulator.py is its
command line and the name tests import (see tests/yarn/EMULATOR.md)."""
